// Reading a geo block's lines (see geo.h): nginx's grammar, errors and warnings.
#include <cstdio>
#include <string>
#include <unordered_map>

#include "core/log.h"
#include "modules/geo/geo.h"

namespace geo {

namespace {

std::string dotted(uint32_t a) {
    char buf[16];
    snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
    return buf;
}

}  // namespace

/// Builds one Geo from its lines (a friend of Geo).
class Builder {
  public:
    Builder(const Options& options, Geo& geo) : options_(options), geo_(geo) {}

    core::Status line(const core::ConfNode& n);
    core::Status finish();

  private:
    core::Status fail(const core::ConfNode& n, const std::string& what) const {
        return core::Status::error(what + " in " + n.where());
    }
    void warn(const core::ConfNode& n, const std::string& what) const {
        HALO_LOG(kWarn, "%s in %s", what.c_str(), n.where().c_str());
    }
    uint32_t value(const std::string& v);
    const std::string& text(uint32_t v) const { return geo_.values_[v]; }
    /// nginx's ngx_http_geo_cidr_value: a Net, with the "low address bits" warning.
    core::Status net(const core::ConfNode& n, const std::string& arg, Net& out) const;
    core::Status cidr_line(const core::ConfNode& n);
    void cidr_add(const core::ConfNode& n, const Net& net, const std::string& name, uint32_t v);
    core::Status range_line(const core::ConfNode& n);

    const Options& options_;
    Geo& geo_;
    std::unordered_map<std::string, uint32_t> interned_{{std::string(), 0}};
    bool cidr_seen_ = false;                 // a CIDR line (or default) was read: no `ranges` now
    std::optional<uint32_t> range_default_;  // ranges: `default`
};

uint32_t Builder::value(const std::string& v) {
    auto [it, fresh] = interned_.try_emplace(v, static_cast<uint32_t>(geo_.values_.size()));
    if (fresh) {
        geo_.values_.push_back(v);
    }
    return it->second;
}

core::Status Builder::net(const core::ConfNode& n, const std::string& arg, Net& out) const {
    switch (parse_net(arg, out)) {
        case NetParse::kOk:
            return core::Status::ok();
        case NetParse::kLowBits:
            warn(n, "low address bits of " + arg + " are meaningless");
            return core::Status::ok();
        case NetParse::kInvalid:
            break;
    }
    return fail(n, "invalid network \"" + arg + "\"");
}

core::Status Builder::line(const core::ConfNode& n) {
    if (n.block) {
        return fail(n, "unexpected \"{\"");
    }
    const auto& a = n.args;
    if (a.size() == 1) {
        if (a[0] == "ranges") {
            if (cidr_seen_) {
                return fail(n,
                            "the \"ranges\" directive must be the first directive inside \"geo\" "
                            "block");
            }
            geo_.ranges_ = true;
            return core::Status::ok();
        }
        if (a[0] == "proxy_recursive" && options_.proxy) {
            geo_.proxy_recursive_ = true;
            return core::Status::ok();
        }
        if (a[0] == "volatile") {
            geo_.volatile_ = true;
            return core::Status::ok();
        }
    }
    if (a.size() != 2) {
        return fail(n, "invalid number of the geo parameters");
    }
    if (a[0] == "proxy" && options_.proxy) {
        Net p;
        HALO_TRY(net(n, a[1], p));
        core::Cidr c;
        c.family = p.family;
        c.bits = p.bits;
        if (p.family == AF_INET) {
            for (int i = 0; i < 4; i++) {
                c.addr[i] = static_cast<uint8_t>(p.v4 >> (24 - 8 * i));
            }
        } else {
            for (int i = 0; i < 16; i++) {
                c.addr[i] = static_cast<uint8_t>(p.v6 >> (120 - 8 * i));
            }
        }
        geo_.proxies_.push_back(c);
        return core::Status::ok();
    }
    return geo_.ranges_ ? range_line(n) : cidr_line(n);
}

void Builder::cidr_add(const core::ConfNode& n, const Net& net, const std::string& name,
                       uint32_t v) {
    uint32_t old = net.family == AF_INET ? geo_.v4_.insert(net.v4, net.bits, v)
                                         : geo_.v6_.insert(net.v6, net.bits, v);
    if (old != PrefixTable<uint32_t>::kNone) {
        warn(n, "duplicate network \"" + name + "\", value: \"" + text(v) + "\", old value: \"" +
                    text(old) + "\"");
    }
}

core::Status Builder::cidr_line(const core::ConfNode& n) {
    cidr_seen_ = true;
    const auto& a = n.args;
    if (a[0] == "default") {
        uint32_t v = value(a[1]);
        cidr_add(n, Net{.family = AF_INET, .bits = 0}, a[0], v);
        cidr_add(n, Net{.family = AF_INET6, .bits = 0}, a[0], v);
        return core::Status::ok();
    }
    bool del = a[0] == "delete";
    const std::string& name = del ? a[1] : a[0];
    Net p;
    HALO_TRY(net(n, name, p));
    if (del) {
        bool removed =
            p.family == AF_INET ? geo_.v4_.remove(p.v4, p.bits) : geo_.v6_.remove(p.v6, p.bits);
        if (!removed) {
            warn(n, "no network \"" + name + "\" to delete");
        }
        return core::Status::ok();
    }
    cidr_add(n, p, name, value(a[1]));
    return core::Status::ok();
}

core::Status Builder::range_line(const core::ConfNode& n) {
    const auto& a = n.args;
    if (a[0] == "default") {
        if (range_default_) {
            warn(n, "duplicate default geo range value: \"" + a[1] + "\", old value: \"" +
                        text(*range_default_) + "\"");
        }
        range_default_ = value(a[1]);
        return core::Status::ok();
    }
    bool del = a[0] == "delete";
    const std::string& name = del ? a[1] : a[0];
    size_t dash = name.find('-');
    std::optional<uint32_t> start;
    std::optional<uint32_t> end;
    if (dash != std::string::npos) {
        start = parse_ipv4(std::string_view(name).substr(0, dash));
        end = parse_ipv4(std::string_view(name).substr(dash + 1));
    }
    if (!start || !end || *start > *end) {
        return fail(n, "invalid range \"" + name + "\"");
    }
    if (del) {
        if (!geo_.range_table_.remove(*start, *end)) {
            warn(n, "no address range \"" + name + "\" to delete");
        }
        return core::Status::ok();
    }
    uint32_t v = value(a[1]);
    RangeTable::AddResult r = geo_.range_table_.add(*start, *end, v);
    if (r.what == RangeTable::Added::kOverlap) {
        return fail(n, "range \"" + name + "\" overlaps \"" + dotted(r.first) + "-" +
                           dotted(r.last) + "\"");
    }
    for (uint32_t old : r.replaced) {  // nginx warns once per /16 the range spans
        warn(n, "duplicate range \"" + name + "\", value: \"" + text(v) + "\", old value: \"" +
                    text(old) + "\"");
    }
    return core::Status::ok();
}

core::Status Builder::finish() {
    if (geo_.ranges_) {
        geo_.range_default_ = range_default_.value_or(0);
        geo_.range_table_.compile();
    } else {
        // nginx: addresses no network holds get "" unless `default` said otherwise.
        geo_.v4_.compile(0);
        geo_.v6_.compile(0);
    }
    return core::Status::ok();
}

core::Status build(std::span<const core::ConfNode> lines, const Options& options, Geo& out) {
    Builder b(options, out);
    for (const core::ConfNode& n : lines) {
        HALO_TRY(b.line(n));
    }
    return b.finish();
}

}  // namespace geo
