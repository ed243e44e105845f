#pragma once

#include <array>
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
#include "core/named.h"

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

/// The most a buffer may take: the cap of every memory size a directive sets (`slot` of a
/// Size, `*_buffers` and their product). Sizes that are lengths (client_max_body_size) use
/// `length_slot` and have no such cap.
inline constexpr uint64_t kMaxBufferSize = 1024ull * 1024 * 1024;
/// The most buffers one `*_buffers` directive may ask for.
inline constexpr int64_t kMaxBufferCount = 65536;

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
    /// For a directive given at most once (a block such as `http { }`, a flag such as
    /// `nopreempt`): the duplicate() error when `given` is set, else sets it.
    Status mark_given(bool& given) const;

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
/// The two arguments of a `*_buffers number size` directive: a number of 1..kMaxBufferCount
/// and a size of at least `min_bytes`, together at most kMaxBufferSize; an error names the
/// argument at fault (`invalid value "x" in "name" directive`), or the directive is a
/// duplicate when `was_set`.
Status parse_buffers(ConfContext& cf, uint64_t min_bytes, int64_t& number, Size& size,
                     bool was_set = false);

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

/// The detail of an error: the default wording when `custom` is nullptr, else `custom` ("" for
/// none).
inline std::string_view detail_or(const char* custom, std::string_view def) {
    return custom != nullptr ? std::string_view(custom) : def;
}

Status set_flag(ConfContext& cf, std::optional<bool>& out);
Status set_duration(ConfContext& cf, std::optional<std::chrono::milliseconds>& out,
                    const char* detail = nullptr);
/// set_duration for a time that may not be 0.
Status set_positive_duration(ConfContext& cf, std::optional<std::chrono::milliseconds>& out,
                             const char* detail = nullptr);
/// A size of at most `max_bytes` (a larger one: `invalid value "100g" in "name" directive, it
/// must not be more than 1g`).
Status set_size(ConfContext& cf, std::optional<Size>& out, const char* detail = nullptr,
                uint64_t max_bytes = kMaxBufferSize);
Status set_int(ConfContext& cf, int64_t min, int64_t max, int64_t& out, bool was_set,
               const char* detail = nullptr);
Status set_string(ConfContext& cf, std::optional<std::string>& out);
Status set_path(ConfContext& cf, std::optional<std::string>& out);
/// Index in `names` of the argument, or an error.
Status find_name(ConfContext& cf, std::span<const std::string_view> names, std::string_view arg,
                 const char* detail, size_t& index);
/// The bits named by the arguments; `off` (when `names` has it) stands alone.
Status or_names(ConfContext& cf, std::span<const std::string_view> names,
                std::span<const uint64_t> bits, const char* detail, uint64_t& out);

template <auto Member>
auto& field_of(ConfBase& base) {
    using Traits = MemberTraits<decltype(Member)>;
    static_assert(IsOptional<typename Traits::Value>::value, "slot members are std::optional");
    return static_cast<typename Traits::Class&>(base).*Member;
}

template <auto Member, int64_t Min, int64_t Max, const char* Detail>
Status slot_thunk(ConfContext& cf, ConfBase& base) {
    auto& field = field_of<Member>(base);
    using Inner = typename IsOptional<std::remove_reference_t<decltype(field)>>::Inner;
    if constexpr (std::is_same_v<Inner, bool>) {
        return set_flag(cf, field);
    } else if constexpr (std::is_same_v<Inner, std::chrono::milliseconds>) {
        return set_duration(cf, field, Detail);
    } else if constexpr (std::is_same_v<Inner, Size>) {
        return set_size(cf, field, Detail);
    } else if constexpr (std::is_same_v<Inner, std::string>) {
        return set_string(cf, field);
    } else {
        static_assert(std::is_integral_v<Inner>, "unsupported slot type");
        int64_t v = 0;
        Status s = set_int(cf, Min, Max, v, field.has_value(), Detail);
        if (s.is_ok()) {
            field = static_cast<Inner>(v);
        }
        return s;
    }
}

template <auto Member, const char* Detail>
Status length_thunk(ConfContext& cf, ConfBase& base) {
    return set_size(cf, field_of<Member>(base), Detail, UINT64_MAX);
}

template <auto Member>
Status path_thunk(ConfContext& cf, ConfBase& base) {
    return set_path(cf, field_of<Member>(base));
}

template <const auto& Names>
constexpr auto names_of() {
    std::array<std::string_view, std::size(Names)> out{};
    for (size_t i = 0; i < out.size(); i++) {
        out[i] = Names[i].name;
    }
    return out;
}

/// enum_slot (one word: its value) and bitmask_slot (words: the OR of their values).
template <auto Member, const auto& Names, const char* Detail, bool Bitmask>
Status named_thunk(ConfContext& cf, ConfBase& base) {
    auto& field = field_of<Member>(base);
    if (field) {
        return cf.duplicate();
    }
    static constexpr auto kWords = names_of<Names>();
    if constexpr (Bitmask) {
        static constexpr auto kBits = [] {
            std::array<uint64_t, std::size(Names)> out{};
            for (size_t i = 0; i < out.size(); i++) {
                out[i] = static_cast<uint64_t>(Names[i].value);
            }
            return out;
        }();
        uint64_t bits = 0;
        HALO_TRY(or_names(cf, kWords, kBits, Detail, bits));
        using Inner = typename IsOptional<std::remove_reference_t<decltype(field)>>::Inner;
        field = static_cast<Inner>(bits);
    } else {
        size_t i = 0;
        HALO_TRY(find_name(cf, kWords, cf.arg(0), Detail, i));
        field = Names[i].value;
    }
    return Status::ok();
}

template <auto Member>
using SlotConf = typename MemberTraits<decltype(Member)>::Class;
}  // namespace detail

/// Setter for a `std::optional<...>` member, the parser picked from the member's type
/// (nginx's *_slot setters, typed): bool = on|off (or, for a directive of no argument,
/// present = true), milliseconds = duration, Size = a memory size of at most kMaxBufferSize
/// (a length: length_slot), std::string = text, integers =
/// bounded by [Min, Max]. A second occurrence is an error ("is duplicate"). `Detail`, when
/// given, replaces the standard wording after `invalid value "x" in "name" directive` ("" for
/// none); it must be a `constexpr char[]` with static storage.
template <auto Member, int64_t Min = 0, int64_t Max = INT32_MAX, const char* Detail = nullptr>
constexpr Setter slot() {
    return Setter{&detail::slot_thunk<Member, Min, Max, Detail>,
                  &ConfSlot<detail::SlotConf<Member>>::tag};
}

/// Setter for a `std::optional<Size>` member that is a length, not memory (a body or file
/// size limit): no kMaxBufferSize cap. `Detail` as for slot().
template <auto Member, const char* Detail = nullptr>
constexpr Setter length_slot() {
    return Setter{&detail::length_thunk<Member, Detail>, &ConfSlot<detail::SlotConf<Member>>::tag};
}

/// Setter for a `std::optional<std::string>` path, resolved against the prefix (full_path).
template <auto Member>
constexpr Setter path_slot() {
    return Setter{&detail::path_thunk<Member>, &ConfSlot<detail::SlotConf<Member>>::tag};
}

/// Setter for a `std::optional<V>` member set from one word of `Names`, a constexpr array of
/// `Named<V>` (nginx's enum slot). An unknown word: `invalid value "x" in "name" directive`,
/// followed by `, Detail` when given.
template <auto Member, const auto& Names, const char* Detail = nullptr>
constexpr Setter enum_slot() {
    return Setter{&detail::named_thunk<Member, Names, Detail, false>,
                  &ConfSlot<detail::SlotConf<Member>>::tag};
}

/// Setter for a `std::optional<unsigned>` member: the OR of the values of the words given,
/// each from `Names` (nginx's bitmask slot). A word named `off` cannot be combined with others.
template <auto Member, const auto& Names, const char* Detail = nullptr>
constexpr Setter bitmask_slot() {
    return Setter{&detail::named_thunk<Member, Names, Detail, true>,
                  &ConfSlot<detail::SlotConf<Member>>::tag};
}

/// `child ?: parent ?: def`, the merge rule of nearly every directive.
template <class T, class D>
void inherit(std::optional<T>& child, const std::optional<T>& parent, D&& def) {
    if (!child) {
        child = parent ? *parent : T(std::forward<D>(def));
    }
}

}  // namespace core
