#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/status.h"

namespace core {

class Cycle;
class ConfContext;
struct ProcessInfo;

/// What a module extends. The core knows module types, never particular modules.
enum class ModuleType { kCore, kEvent, kHttp, kHttpFilter, kHttpUpstream, kProcess, kStream };

/// Contexts where a directive may be written (bit set).
enum Ctx : uint32_t {
    kCtxMain = 1u << 0,
    kCtxEvents = 1u << 1,
    kCtxHttp = 1u << 2,
    kCtxServer = 1u << 3,
    kCtxLocation = 1u << 4,
    kCtxUpstream = 1u << 5,
    kCtxVrrp = 1u << 6,
    kCtxVrrpInstance = 1u << 7,
    kCtxVrrpScript = 1u << 8,
    kCtxServerIf = 1u << 9,     // an `if` block in a server (nginx's SIF)
    kCtxLocationIf = 1u << 10,  // an `if` block in a location (nginx's LIF)
    kCtxVrrpSyncGroup = 1u << 11,
    kCtxStream = 1u << 12,        // the `stream { }` block
    kCtxStreamServer = 1u << 13,  // a `server { }` in stream
    kCtxLimitExcept = 1u << 14,   // a `limit_except` block in a location (nginx's LMT)
};
inline constexpr uint32_t kCtxHttpAll = kCtxHttp | kCtxServer | kCtxLocation;
inline constexpr uint32_t kCtxHttpSrv = kCtxHttp | kCtxServer;
inline constexpr uint32_t kCtxStreamAll = kCtxStream | kCtxStreamServer;

/// Where a module's configuration objects live. Each conf struct type belongs to one level.
enum class ConfLevel : uint8_t {
    kMain,
    kEvents,
    kHttpMain,
    kHttpSrv,
    kHttpLoc,
    kUpstream,
    kStreamMain,
    kStreamSrv,
};

/// Base of every module configuration struct (create/merge are typed; see conf_hooks()).
struct ConfBase {
    virtual ~ConfBase() = default;
};

/// Number of arguments a directive takes (the name excluded), and whether it opens a block.
struct Args {
    uint8_t min = 0;
    uint8_t max = 0;
    bool block = false;
};
inline constexpr Args kArgs0{0, 0, false};
inline constexpr Args kArgs1{1, 1, false};
inline constexpr Args kArgs2{2, 2, false};
inline constexpr Args kArgs1To2{1, 2, false};
inline constexpr Args kArgs1To3{1, 3, false};
inline constexpr Args kArgs1ToN{1, 255, false};
inline constexpr Args kArgs2ToN{2, 255, false};
inline constexpr Args kArgsBlock{0, 0, true};
inline constexpr Args kArgsBlock1{1, 1, true};
inline constexpr Args kArgsBlock1To2{1, 2, true};

/// Per-type identity used to find a conf object and its index without casts in modules.
template <class T>
struct ConfSlot {
    static inline int index = -1;  // module index, set by ModuleRegistry
    static inline const char tag = 0;
};

/// Type-erased setter: the framework finds the conf object whose type matches `tag`.
struct Setter {
    Status (*fn)(ConfContext&, ConfBase&) = nullptr;
    const void* tag = nullptr;  // &ConfSlot<T>::tag, or nullptr: no conf needed
};

struct Directive {
    std::string_view name;
    uint32_t contexts = 0;
    Args args;
    Setter set;
};

/// Create and merge of one conf struct type at one level.
struct ConfHooks {
    ConfLevel level = ConfLevel::kMain;
    std::unique_ptr<ConfBase> (*create)() = nullptr;
    /// Fills unset fields of `child` from `parent` (or defaults); also called with a fresh
    /// parent on a top-level conf, so defaults live only here.
    Status (*merge)(const ConfBase& parent, ConfBase& child) = nullptr;
    int* index = nullptr;
    const void* tag = nullptr;
};

/// A command-line verb that a module offers, run instead of the server (`halo
/// --import-keepalived FILE`). It takes one argument, written after it or after '='.
struct Command {
    std::string_view option;    // "--import-keepalived"
    std::string_view argument;  // what the argument is: "file" ("requires file name")
    std::string_view help;      // for -h, after "option argument : "; lines joined by '\n'
    int (*run)(const std::string& argument) = nullptr;  // returns the exit status
};

/// A module: one static description, listed in the generated table (objs/modules.cc).
struct Module {
    std::string_view name;
    ModuleType type = ModuleType::kCore;
    std::span<const Directive> directives = {};
    std::span<const ConfHooks> confs = {};
    /// After the whole config is parsed and merged, in table order: register phase handlers,
    /// filters, listeners, shared zones, helper processes; cross-directive checks.
    Status (*postconfiguration)(Cycle&) = nullptr;
    /// After every module's postconfiguration, in table order: build the runtime tables from
    /// what the modules registered (the HTTP phase engine, listeners).
    Status (*init_cycle)(Cycle&) = nullptr;
    /// In every process that runs the cycle (worker, helper, single), before serving.
    Status (*init_process)(Cycle&, const ProcessInfo&) = nullptr;
    /// When that process exits.
    void (*exit_process)(Cycle&) = nullptr;
    /// Command-line verbs (see Command).
    std::span<const Command> commands = {};
};

/// The module table compiled in by ./configure (objs/modules.cc).
std::span<const Module* const> compiled_modules();

namespace detail {
template <class T>
concept HasMerge = requires(const T& p, T& c) {
    { merge(p, c) } -> std::same_as<Status>;
};

template <class F>
struct SetterTraits;
template <class T>
struct SetterTraits<Status (*)(ConfContext&, T&)> {
    using Conf = T;
};

template <auto Fn>
Status thunk(ConfContext& cf, ConfBase& base) {
    using Conf = typename SetterTraits<decltype(Fn)>::Conf;
    return Fn(cf, static_cast<Conf&>(base));
}

template <auto Fn>
Status thunk_noconf(ConfContext& cf, ConfBase&) {
    return Fn(cf);
}
}  // namespace detail

/// Hooks for conf struct T at `level`. T may declare `Status merge(const T&, T&)` (found by
/// argument-dependent lookup); without one, a child keeps what it set and nothing is inherited.
template <class T>
constexpr ConfHooks conf_hooks(ConfLevel level) {
    static_assert(std::is_base_of_v<ConfBase, T>);
    ConfHooks h;
    h.level = level;
    h.create = []() -> std::unique_ptr<ConfBase> { return std::make_unique<T>(); };
    if constexpr (detail::HasMerge<T>) {
        h.merge = [](const ConfBase& p, ConfBase& c) -> Status {
            return merge(static_cast<const T&>(p), static_cast<T&>(c));
        };
    }
    h.index = &ConfSlot<T>::index;
    h.tag = &ConfSlot<T>::tag;
    return h;
}

/// A custom setter: `Status fn(ConfContext&, MyConf&)`.
template <auto Fn>
constexpr Setter setter() {
    using Conf = typename detail::SetterTraits<decltype(Fn)>::Conf;
    return Setter{&detail::thunk<Fn>, &ConfSlot<Conf>::tag};
}

/// A setter that needs no conf object: `Status fn(ConfContext&)`.
template <auto Fn>
constexpr Setter setter_noconf() {
    return Setter{&detail::thunk_noconf<Fn>, nullptr};
}

}  // namespace core
