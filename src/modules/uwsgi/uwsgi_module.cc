// The uwsgi module (nginx's ngx_http_uwsgi_module): `uwsgi_pass` makes a location's content
// come from a uwsgi server (uWSGI) through the proxy's exchange. The request is one uwsgi
// packet (modifier1, the size of the variables, modifier2, then each variable as a 16-bit
// little-endian length and bytes) followed by the body; the answer is HTTP (a status line, or
// a CGI head), its body ending with the connection.

#include <algorithm>

#include "core/module.h"
#include "http/http.h"
#include "modules/proxy/proxy_codec.h"
#include "modules/proxy/proxy_shared.h"

namespace mod::uwsgi {

using core::ConfContext;
using core::Status;
using proxy::ProxyLocConf;

struct UwsgiLocConf : ProxyLocConf {
    proxy::CgiParams params;       // uwsgi_param
    std::optional<int> modifier1;  // 0
    std::optional<int> modifier2;  // 0
};

Status merge(const UwsgiLocConf& parent, UwsgiLocConf& child) {
    child.redirect_off = true;  // nginx: no Location rewriting for uwsgi
    core::inherit(child.temp_path, parent.temp_path, "uwsgi_temp");
    HALO_TRY(proxy::merge(parent, child));
    child.redirects.reset();
    auto hidden = std::make_shared<std::vector<std::string>>(1, "Status");
    if (child.hide_headers) {
        hidden->insert(hidden->end(), child.hide_headers->begin(), child.hide_headers->end());
    }
    child.hide_headers = std::move(hidden);
    if (!child.params) {
        child.params = parent.params;
    }
    core::inherit(child.modifier1, parent.modifier1, 0);
    core::inherit(child.modifier2, parent.modifier2, 0);
    return Status::ok();
}

namespace {

/// One request's uwsgi: the netstring, the body as it is, the answer as it comes.
class UwsgiCodec final : public proxy::Codec {
  public:
    explicit UwsgiCodec(const UwsgiLocConf& c) : c_(c) {}
    std::string_view scheme() const override { return "uwsgi://"; }
    std::string_view pool_tag() const override { return "uwsgi"; }
    std::string request_head(const http::Request& r, bool) override {
        std::string vars;
        auto add_length = [&](size_t n) {
            vars += static_cast<char>(n & 0xff);
            vars += static_cast<char>((n >> 8) & 0xff);
        };
        proxy::cgi_params(r, c_.params, *c_.pass_request_headers,
                          [&](std::string_view name, std::string_view value) {
                              add_length(std::min<size_t>(name.size(), 0xffff));
                              vars.append(name.substr(0, 0xffff));
                              add_length(std::min<size_t>(value.size(), 0xffff));
                              vars.append(value.substr(0, 0xffff));
                          });
        if (vars.size() > 0xffff) {
            error_ = "uwsgi request is too big: " + std::to_string(vars.size());
            return {};
        }
        std::string out;
        out += static_cast<char>(*c_.modifier1);
        out += static_cast<char>(vars.size() & 0xff);
        out += static_cast<char>((vars.size() >> 8) & 0xff);
        out += static_cast<char>(*c_.modifier2);
        return out + vars;
    }
    std::string_view request_error() const override { return error_; }
    size_t max_piece() const override { return SIZE_MAX / 2; }
    void body_prefix(size_t, std::string&) const override {}
    void body_end(std::string&) const override {}
    bool streams_unknown_length() const override { return false; }
    bool framed() const override { return false; }
    http::ParseResult parse_head(std::string_view in, size_t max_head, size_t& scan,
                                 http::ParsedResponse& out, std::string* why) override {
        return proxy::parse_cgi_head(in, max_head, scan, out, why);
    }

  private:
    const UwsgiLocConf& c_;
    std::string error_;
};

Status set_pass(ConfContext& cf, UwsgiLocConf& conf) {
    return proxy::set_protocol_pass(cf, conf);
}

Status set_param(ConfContext& cf, UwsgiLocConf& conf) {
    return proxy::add_cgi_param(cf, conf.params);
}

Status refuse_store(ConfContext& cf) {
    return cf.error("\"" + std::string(cf.name()) +
                    "\" is not supported by halo: it keeps no copies of upstream responses "
                    "as files; serve them from the uwsgi server");
}

constexpr uint32_t kAll = core::kCtxHttpAll;

constexpr core::Directive kOwnDirectives[] = {
    {"uwsgi_pass", core::kCtxLocation | core::kCtxLimitExcept, core::kArgs1,
     core::setter<&set_pass>()},
    {"uwsgi_param", kAll, core::Args{2, 3, false}, core::setter<&set_param>()},
    {"uwsgi_modifier1", kAll, core::kArgs1, core::slot<&UwsgiLocConf::modifier1, 0, 255>()},
    {"uwsgi_modifier2", kAll, core::kArgs1, core::slot<&UwsgiLocConf::modifier2, 0, 255>()},
    {"uwsgi_store", kAll, core::kArgs1, core::setter_noconf<&refuse_store>()},
    {"uwsgi_store_access", kAll, core::kArgs1To3, core::setter_noconf<&refuse_store>()},
};

constexpr proxy::CacheNames kCacheNames = HALO_CACHE_NAMES("uwsgi");

constexpr proxy::SharedNames kSharedNames = HALO_SHARED_NAMES("uwsgi");

constexpr auto kDirectives =
    tls::concat(tls::concat(std::to_array(kOwnDirectives),
                            proxy::shared_directives<UwsgiLocConf>(kSharedNames)),
                proxy::cache_directives<UwsgiLocConf>(kCacheNames));

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<UwsgiLocConf>(core::ConfLevel::kHttpLoc),
};

Status postconfiguration(core::Cycle& cycle) {
    return proxy::install_protocol<UwsgiLocConf, UwsgiCodec>(cycle, "uwsgi");
}

}  // namespace

extern const core::Module kModule{
    .name = "http_uwsgi",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::uwsgi
