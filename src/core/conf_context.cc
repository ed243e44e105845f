#include "core/conf_context.h"

#include <algorithm>
#include <cassert>
#include <limits>

#include "core/cycle.h"
#include "core/log.h"

namespace core {
namespace {

const ModuleRegistry* g_active = nullptr;

/// A conf for setters that need none.
struct NoConf : ConfBase {};

}  // namespace

// ---- ModuleRegistry ----

ModuleRegistry::ModuleRegistry(std::span<const Module* const> modules) : modules_(modules) {
    for (size_t i = 0; i < modules_.size(); i++) {
        const Module& m = *modules_[i];
        for (const Directive& d : m.directives) {
            by_name_[d.name].push_back(Entry{static_cast<int>(i), &d});
        }
        for (const ConfHooks& h : m.confs) {
            *h.index = static_cast<int>(i);
        }
    }
}

int ModuleRegistry::index_of(const Module& m) const {
    for (size_t i = 0; i < modules_.size(); i++) {
        if (modules_[i] == &m) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

const Module* ModuleRegistry::find(std::string_view name) const {
    for (const Module* m : modules_) {
        if (m->name == name) {
            return m;
        }
    }
    return nullptr;
}

std::span<const ModuleRegistry::Entry> ModuleRegistry::lookup(std::string_view name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
        return {};
    }
    return it->second;
}

const ConfHooks* ModuleRegistry::hooks(int m, ConfLevel level) const {
    for (const ConfHooks& h : modules_[static_cast<size_t>(m)]->confs) {
        if (h.level == level) {
            return &h;
        }
    }
    return nullptr;
}

const ModuleRegistry& ModuleRegistry::active() {
    assert(g_active != nullptr);
    return *g_active;
}

void ModuleRegistry::set_active(const ModuleRegistry* r) {
    g_active = r;
}

// ---- ConfContext ----

ConfContext::ConfContext(Cycle& cycle, const ModuleRegistry& registry)
    : cycle_(cycle), registry_(registry) {}

Status ConfContext::error(std::string_view what) const {
    std::string msg(what);
    if (node_ != nullptr) {
        msg += " in ";
        msg += node_->where();
    }
    return Status::error(std::move(msg));
}

Status ConfContext::invalid_value(std::string_view value, std::string_view detail) const {
    std::string msg =
        "invalid value \"" + std::string(value) + "\" in \"" + std::string(name()) + "\" directive";
    if (!detail.empty()) {
        msg += ", ";
        msg += detail;
    }
    return error(msg);
}

Status ConfContext::duplicate() const {
    return error("\"" + std::string(name()) + "\" directive is duplicate");
}

Status ConfContext::mark_given(bool& given) const {
    if (given) {
        return duplicate();
    }
    given = true;
    return Status::ok();
}

Status ConfContext::apply_block(const std::vector<ConfNode>& nodes, uint32_t ctx,
                                std::span<const Frame> frames) {
    const ConfNode* saved_node = node_;
    uint32_t saved_ctx = ctx_;
    size_t saved_frames = frames_.size();
    ctx_ = ctx;
    frames_.insert(frames_.end(), frames.begin(), frames.end());
    Status result = Status::ok();
    for (const ConfNode& n : nodes) {
        result = apply(n);
        if (!result.is_ok()) {
            inner_error_ = result.message();
            break;
        }
    }
    frames_.resize(saved_frames);
    ctx_ = saved_ctx;
    node_ = saved_node;
    return result;
}

Status ConfContext::apply(const ConfNode& node) {
    const ConfNode* saved = node_;
    node_ = &node;
    struct Restore {
        ConfContext* cf;
        const ConfNode* node;
        ~Restore() { cf->node_ = node; }
    } restore{this, saved};

    auto entries = registry_.lookup(node.name());
    if (entries.empty()) {
        unknown_.push_back(
            error("unknown directive \"" + std::string(node.name()) + "\"").message());
        return Status::ok();
    }
    const ModuleRegistry::Entry* found = nullptr;
    for (const auto& e : entries) {
        if (e.directive->contexts & ctx_) {
            found = &e;
            break;
        }
    }
    if (found == nullptr) {
        return error("\"" + std::string(node.name()) + "\" directive is not allowed here");
    }
    const Directive& d = *found->directive;
    if (d.args.block && !node.block) {
        return error("directive \"" + std::string(node.name()) + "\" has no opening \"{\"");
    }
    if (!d.args.block && node.block) {
        return error("directive \"" + std::string(node.name()) + "\" is not terminated by \";\"");
    }
    size_t n = node.args.size() - 1;
    if (n < d.args.min || n > d.args.max) {
        return error("invalid number of arguments in \"" + std::string(node.name()) +
                     "\" directive");
    }
    // A block with an unknown directive inside fails its own checks too ("no servers are
    // inside upstream"): that is a consequence, not news. It is dropped and the scan goes on,
    // so that every unknown directive of the file is named; the load fails on them anyway.
    // An error of a directive inside the block (passed up by it) is news and is kept.
    size_t unknown_before = unknown_.size();
    auto set = [&](ConfBase& conf) {
        Status s = d.set.fn(*this, conf);
        bool follow_on =
            !s.is_ok() && unknown_.size() > unknown_before && s.message() != inner_error_;
        return follow_on ? Status::ok() : s;
    };
    if (d.set.tag == nullptr) {
        NoConf none;
        return set(none);
    }
    for (auto f = frames_.rbegin(); f != frames_.rend(); ++f) {
        const ConfHooks* h = registry_.hooks(found->module, f->level);
        if (h != nullptr && h->tag == d.set.tag) {
            ConfBase* conf = (*f->confs)[static_cast<size_t>(found->module)].get();
            assert(conf != nullptr);
            return set(*conf);
        }
    }
    return error("\"" + std::string(node.name()) + "\" directive is not allowed here");
}

Status ConfContext::with_unknown_directives(Status result) const {
    if (unknown_.empty()) {
        return result;
    }
    std::string msg;
    for (const std::string& u : unknown_) {
        msg += msg.empty() ? "" : "\n";
        msg += u;
    }
    if (!result.is_ok()) {
        msg += "\n" + result.message();
    }
    return Status::error(std::move(msg));
}

ConfVector* ConfContext::confs(ConfLevel level) const {
    for (auto f = frames_.rbegin(); f != frames_.rend(); ++f) {
        if (f->level == level) {
            return f->confs;
        }
    }
    return nullptr;
}

ConfVector ConfContext::create_confs(ConfLevel level) const {
    ConfVector v(registry_.size());
    for (size_t i = 0; i < registry_.size(); i++) {
        const ConfHooks* h = registry_.hooks(static_cast<int>(i), level);
        if (h != nullptr) {
            v[i] = h->create();
        }
    }
    return v;
}

Status ConfContext::merge_confs(ConfLevel level, const ConfVector& parent,
                                ConfVector& child) const {
    for (size_t i = 0; i < registry_.size(); i++) {
        const ConfHooks* h = registry_.hooks(static_cast<int>(i), level);
        if (h != nullptr && h->merge != nullptr && parent[i] && child[i]) {
            HALO_TRY(h->merge(*parent[i], *child[i]));
        }
    }
    return Status::ok();
}

Status ConfContext::finalize_confs(ConfLevel level, ConfVector& confs) const {
    ConfVector defaults = create_confs(level);
    return merge_confs(level, defaults, confs);
}

std::string ConfContext::full_path(std::string_view path) const {
    return cycle_.full_path(path);
}

// ---- value parsers ----

Status parse_buffers(ConfContext& cf, uint64_t min_bytes, int64_t& number, Size& size,
                     bool was_set) {
    if (was_set) {
        return cf.duplicate();
    }
    auto n = parse_int(cf.arg(0));
    auto sz = parse_size(cf.arg(1));
    if (!n || *n < 1 || *n > kMaxBufferCount) {
        return cf.invalid_value(cf.arg(0), format("the number must be 1..%lld",
                                                  static_cast<long long>(kMaxBufferCount)));
    }
    if (!sz || sz->bytes < min_bytes) {
        return cf.invalid_value(cf.arg(1));
    }
    if (sz->bytes > kMaxBufferSize / static_cast<uint64_t>(*n)) {
        return cf.error(format("%s buffers of %s are more than %s in \"%s\" directive",
                               cf.arg(0).c_str(), cf.arg(1).c_str(),
                               size_text(kMaxBufferSize).c_str(), std::string(cf.name()).c_str()));
    }
    number = *n;
    size = *sz;
    return Status::ok();
}

std::optional<int64_t> parse_int(std::string_view s) {
    if (s.empty() || s.size() > 18) {
        return std::nullopt;
    }
    int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        v = v * 10 + (c - '0');
    }
    return v;
}

std::optional<Size> parse_size(std::string_view s) {
    if (s.empty()) {
        return std::nullopt;
    }
    uint64_t scale = 1;
    switch (s.back()) {
        case 'k':
        case 'K':
            scale = 1024;
            break;
        case 'm':
        case 'M':
            scale = 1024 * 1024;
            break;
        case 'g':
        case 'G':
            scale = 1024ull * 1024 * 1024;
            break;
        default:
            break;
    }
    if (scale != 1) {
        s.remove_suffix(1);
    }
    auto v = parse_int(s);
    if (!v || static_cast<uint64_t>(*v) > std::numeric_limits<uint64_t>::max() / scale) {
        return std::nullopt;
    }
    return Size{static_cast<uint64_t>(*v) * scale};
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
    if (s.empty()) {
        return std::nullopt;
    }
    using namespace std::chrono;
    // Units in the order they must appear, as nginx requires (largest first).
    struct Unit {
        std::string_view suffix;
        int64_t ms;
    };
    static constexpr Unit kUnits[] = {
        {"y", 365LL * 86400000}, {"M", 30LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
        {"h", 3600000},          {"m", 60000},           {"s", 1000},           {"ms", 1},
    };
    int64_t total = 0;
    size_t last_unit = 0;  // index+1 of the last unit used
    size_t i = 0;
    while (i < s.size()) {
        size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == start) {
            return std::nullopt;
        }
        auto num = parse_int(s.substr(start, i - start));
        if (!num) {
            return std::nullopt;
        }
        size_t ustart = i;
        while (i < s.size() && (s[i] < '0' || s[i] > '9')) {
            i++;
        }
        std::string_view suffix = s.substr(ustart, i - ustart);
        int64_t scale = 1000;  // bare number: seconds
        size_t unit = std::size(kUnits) + 1;
        if (!suffix.empty()) {
            unit = 0;
            for (size_t u = 0; u < std::size(kUnits); u++) {
                if (kUnits[u].suffix == suffix) {
                    unit = u + 1;
                    scale = kUnits[u].ms;
                }
            }
            if (unit == 0 || unit <= last_unit) {
                return std::nullopt;
            }
        } else if (i != s.size() || last_unit != 0) {
            return std::nullopt;  // a bare number only stands alone
        }
        if (*num > (INT64_MAX - total) / scale) {
            return std::nullopt;
        }
        total += *num * scale;
        last_unit = unit;
    }
    return milliseconds(total);
}

namespace detail {

Status set_flag(ConfContext& cf, std::optional<bool>& out) {
    if (out) {
        return cf.duplicate();
    }
    if (cf.args().empty()) {
        out = true;  // a directive of no argument: present
        return Status::ok();
    }
    const std::string& v = cf.arg(0);
    if (v == "on") {
        out = true;
    } else if (v == "off") {
        out = false;
    } else {
        return cf.invalid_value(v, "it must be \"on\" or \"off\"");
    }
    return Status::ok();
}

namespace {

/// The rule of the one-argument slots: a second occurrence is a duplicate, a value `parse`
/// rejects is invalid (worded `detail`, else `def`).
template <class T, class Parse>
Status set_parsed(ConfContext& cf, std::optional<T>& out, Parse parse, const char* detail,
                  std::string_view def) {
    if (out) {
        return cf.duplicate();
    }
    std::optional<T> v = parse(cf.arg(0));
    if (!v) {
        return cf.invalid_value(cf.arg(0), detail_or(detail, def));
    }
    out = *v;
    return Status::ok();
}

}  // namespace

Status set_duration(ConfContext& cf, std::optional<std::chrono::milliseconds>& out,
                    const char* detail) {
    return set_parsed(cf, out, &parse_duration, detail, "expected a time such as 500ms, 10s, 1m");
}

Status set_positive_duration(ConfContext& cf, std::optional<std::chrono::milliseconds>& out,
                             const char* detail) {
    auto parse = [](std::string_view s) {
        auto d = parse_duration(s);
        return d && d->count() > 0 ? d : std::nullopt;
    };
    return set_parsed(cf, out, parse, detail, "expected a time such as 500ms, 10s, 1m");
}

Status set_size(ConfContext& cf, std::optional<Size>& out, const char* detail, uint64_t max_bytes) {
    HALO_TRY(set_parsed(cf, out, &parse_size, detail, "expected a size such as 512, 4k, 1m"));
    if (out->bytes > max_bytes) {
        out.reset();
        return cf.invalid_value(cf.arg(0), "it must not be more than " + size_text(max_bytes));
    }
    return Status::ok();
}

Status set_int(ConfContext& cf, int64_t min, int64_t max, int64_t& out, bool was_set,
               const char* detail) {
    if (was_set) {
        return cf.duplicate();
    }
    auto v = parse_int(cf.arg(0));
    if (!v || *v < min || *v > max) {
        if (detail != nullptr) {
            return cf.invalid_value(cf.arg(0), detail);
        }
        return cf.invalid_value(cf.arg(0),
                                format("it must be %lld..%lld", static_cast<long long>(min),
                                       static_cast<long long>(max)));
    }
    out = *v;
    return Status::ok();
}

Status set_string(ConfContext& cf, std::optional<std::string>& out) {
    if (out) {
        return cf.duplicate();
    }
    out = cf.arg(0);
    return Status::ok();
}

Status set_path(ConfContext& cf, std::optional<std::string>& out) {
    if (out) {
        return cf.duplicate();
    }
    out = cf.full_path(cf.arg(0));
    return Status::ok();
}

Status find_name(ConfContext& cf, std::span<const std::string_view> names, std::string_view arg,
                 const char* detail, size_t& index) {
    auto it = std::find(names.begin(), names.end(), arg);
    if (it == names.end()) {
        return cf.invalid_value(arg, detail_or(detail, {}));
    }
    index = static_cast<size_t>(it - names.begin());
    return Status::ok();
}

Status or_names(ConfContext& cf, std::span<const std::string_view> names,
                std::span<const uint64_t> bits, const char* detail, uint64_t& out) {
    uint64_t all = 0;
    for (const std::string& a : cf.args()) {
        size_t i = 0;
        HALO_TRY(find_name(cf, names, a, detail, i));
        all |= bits[i];
    }
    auto off = std::find(names.begin(), names.end(), "off");
    if (off != names.end()) {
        uint64_t off_bit = bits[static_cast<size_t>(off - names.begin())];
        if ((all & off_bit) != 0 && all != off_bit) {
            return cf.error("\"off\" cannot be combined with other values of \"" +
                            std::string(cf.name()) + "\"");
        }
    }
    out = all;
    return Status::ok();
}

}  // namespace detail
}  // namespace core
