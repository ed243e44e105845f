#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/conf_file.h"
#include "core/module.h"

namespace core {

/// The module table in use, with indexes assigned and directives hashed by name. Built once
/// per process from compiled_modules() (or by a test from its own table).
class ModuleRegistry {
  public:
    explicit ModuleRegistry(std::span<const Module* const> modules);

    std::span<const Module* const> modules() const { return modules_; }
    size_t size() const { return modules_.size(); }
    const Module& at(size_t i) const { return *modules_[i]; }
    /// Index of `m` in the table; -1 when it is not compiled in.
    int index_of(const Module& m) const;
    const Module* find(std::string_view name) const;

    struct Entry {
        int module;
        const Directive* directive;
    };
    /// Every module directive called `name` (usually one).
    std::span<const Entry> lookup(std::string_view name) const;
    /// The hooks module `m` declared for `level`, or nullptr.
    const ConfHooks* hooks(int m, ConfLevel level) const;

    /// The registry of the running program (set by main or a test).
    static const ModuleRegistry& active();
    static void set_active(const ModuleRegistry* r);

  private:
    std::span<const Module* const> modules_;
    std::unordered_map<std::string_view, std::vector<Entry>> by_name_;
};

/// Conf objects of one level, indexed by module (nullptr where a module has none).
using ConfVector = std::vector<std::unique_ptr<ConfBase>>;

/// Typed access to a module's conf in a ConfVector.
template <class T>
T& conf_of(const ConfVector& v) {
    return static_cast<T&>(*v[static_cast<size_t>(ConfSlot<T>::index)]);
}

/// Size in bytes, parsed from `512`, `4k`, `8m`, `1g`.
struct Size {
    uint64_t bytes = 0;
    friend bool operator==(Size, Size) = default;
};

/// State while a config is applied: the directive at hand, the context it is in and the conf
/// objects visible from there. Block directives push a context with new conf frames.
class ConfContext {
  public:
    struct Frame {
        ConfLevel level;
        ConfVector* confs;
    };

    ConfContext(Cycle& cycle, const ModuleRegistry& registry);

    Cycle& cycle() { return cycle_; }
    const ModuleRegistry& registry() const { return registry_; }
    const ConfNode& node() const { return *node_; }
    std::string_view name() const { return node_->name(); }
    /// Arguments after the name.
    std::span<const std::string> args() const {
        return std::span<const std::string>(node_->args).subspan(1);
    }
    const std::string& arg(size_t i) const { return node_->args[i + 1]; }
    uint32_t context() const { return ctx_; }
    /// The conf objects of the innermost visible frame at `level` (nullptr when none is): for
    /// block directives that attach new objects to the current block (the rewrite module's
    /// `if` in a location).
    ConfVector* confs(ConfLevel level) const;

    /// `what` + " in file:line" of the current directive.
    Status error(std::string_view what) const;
    /// `invalid value "v" in "name" directive[, detail] in file:line`.
    Status invalid_value(std::string_view value, std::string_view detail = {}) const;
    /// `"name" directive is duplicate in file:line`.
    Status duplicate() const;

    /// Applies every directive of `nodes` in context `ctx`, with `frames` added on top of the
    /// frames visible now. Restores the current state afterwards.
    Status apply_block(const std::vector<ConfNode>& nodes, uint32_t ctx,
                       std::span<const Frame> frames);
    /// Applies one directive in the current context. A directive no module knows is not an
    /// error here: it is recorded (see unknown_directives()) and skipped with its block, so
    /// that `halo -t` can name every one of them; the caller turns the list into the error.
    Status apply(const ConfNode& node);

    /// `unknown directive "x" in file:line` for every unknown directive met so far, in the
    /// order they were applied (file order).
    const std::vector<std::string>& unknown_directives() const { return unknown_; }
    /// `result` with the unknown directives put first: one error line each, then the
    /// message of `result` when it failed. `result` itself when no directive was unknown.
    Status with_unknown_directives(Status result) const;

    /// New conf objects for every module that has hooks at `level`.
    ConfVector create_confs(ConfLevel level) const;
    /// Merges `child` from `parent` at `level` (both from create_confs of that level).
    Status merge_confs(ConfLevel level, const ConfVector& parent, ConfVector& child) const;
    /// Merges every conf of `confs` with a fresh parent: applies the defaults.
    Status finalize_confs(ConfLevel level, ConfVector& confs) const;

    /// Resolves a path against the prefix (absolute paths are kept).
    std::string full_path(std::string_view path) const;

  private:
    Cycle& cycle_;
    const ModuleRegistry& registry_;
    const ConfNode* node_ = nullptr;
    uint32_t ctx_ = kCtxMain;
    std::vector<Frame> frames_;
    std::vector<std::string> unknown_;
    std::string inner_error_;  // the last error a directive inside a block passed up
};

// ---- Typed value parsers (shared by slot setters and custom setters) ----

/// nginx time syntax: `30`, `500ms`, `10s`, `1m30s`, `2h`, `1d`, `1w`; bare numbers are seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);
/// `512`, `4k`, `4K`, `8m`, `1g`.
std::optional<Size> parse_size(std::string_view s);
/// Decimal integer without sign or junk.
std::optional<int64_t> parse_int(std::string_view s);

namespace detail {
template <class M>
struct MemberTraits;
template <class C, class V>
struct MemberTraits<V C::*> {
    using Class = C;
    using Value = V;
};
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {
    using Inner = T;
};

Status set_flag(ConfContext& cf, std::optional<bool>& out);
Status set_duration(ConfContext& cf, std::optional<std::chrono::milliseconds>& out);
Status set_size(ConfContext& cf, std::optional<Size>& out);
Status set_int(ConfContext& cf, int64_t min, int64_t max, int64_t& out, bool was_set);
Status set_string(ConfContext& cf, std::optional<std::string>& out);

template <auto Member, int64_t Min, int64_t Max>
Status slot_thunk(ConfContext& cf, ConfBase& base) {
    using Traits = MemberTraits<decltype(Member)>;
    auto& field = static_cast<typename Traits::Class&>(base).*Member;
    using V = typename Traits::Value;
    static_assert(IsOptional<V>::value, "slot members are std::optional<...>");
    using Inner = typename IsOptional<V>::Inner;
    if constexpr (std::is_same_v<Inner, bool>) {
        return set_flag(cf, field);
    } else if constexpr (std::is_same_v<Inner, std::chrono::milliseconds>) {
        return set_duration(cf, field);
    } else if constexpr (std::is_same_v<Inner, Size>) {
        return set_size(cf, field);
    } else if constexpr (std::is_same_v<Inner, std::string>) {
        return set_string(cf, field);
    } else {
        static_assert(std::is_integral_v<Inner>, "unsupported slot type");
        int64_t v = 0;
        Status s = set_int(cf, Min, Max, v, field.has_value());
        if (s.is_ok()) {
            field = static_cast<Inner>(v);
        }
        return s;
    }
}
}  // namespace detail

/// Setter for a `std::optional<...>` member, the parser picked from the member's type:
/// bool = on|off, milliseconds = duration, Size = size, std::string = text, integers =
/// bounded by [Min, Max]. A second occurrence is an error ("is duplicate").
template <auto Member, int64_t Min = 0, int64_t Max = INT32_MAX>
constexpr Setter slot() {
    using Conf = typename detail::MemberTraits<decltype(Member)>::Class;
    return Setter{&detail::slot_thunk<Member, Min, Max>, &ConfSlot<Conf>::tag};
}

/// `child ?: parent ?: def`, the merge rule of nearly every directive.
template <class T, class D>
void inherit(std::optional<T>& child, const std::optional<T>& parent, D&& def) {
    if (!child) {
        child = parent ? *parent : T(std::forward<D>(def));
    }
}

}  // namespace core
