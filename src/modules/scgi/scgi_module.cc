// The scgi module (nginx's ngx_http_scgi_module): `scgi_pass` makes a location's content come
// from an SCGI server through the proxy's exchange. The request is a netstring of the
// parameters (CONTENT_LENGTH first, as the SCGI protocol wants) followed by the body; the
// answer is a CGI head ("Status: 404 Not Found") or a status line, and a body that ends with
// the connection.

#include "core/module.h"
#include "http/http.h"
#include "modules/proxy/proxy_codec.h"
#include "modules/proxy/proxy_shared.h"

namespace mod::scgi {

using core::ConfContext;
using core::Status;
using proxy::ProxyLocConf;

struct ScgiLocConf : ProxyLocConf {
    proxy::CgiParams params;  // scgi_param
};

Status merge(const ScgiLocConf& parent, ScgiLocConf& child) {
    child.redirect_off = true;  // nginx: no Location rewriting for SCGI
    core::inherit(child.temp_path, parent.temp_path, "scgi_temp");
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
    return Status::ok();
}

namespace {

/// One request's SCGI: the netstring, the body as it is, the answer as it comes.
class ScgiCodec final : public proxy::Codec {
  public:
    explicit ScgiCodec(const ScgiLocConf& c) : c_(c) {}
    std::string_view scheme() const override { return "scgi://"; }
    std::string_view pool_tag() const override { return "scgi"; }
    std::string request_head(const http::Request& r, bool streamed) override {
        uint64_t length = 0;
        if (*c_.pass_request_body) {
            length = streamed ? r.content_length : r.body ? r.body->size : 0;
        }
        std::string headers = "CONTENT_LENGTH";
        headers += '\0';
        headers += std::to_string(length);
        headers += '\0';
        proxy::cgi_params(r, c_.params, *c_.pass_request_headers,
                          [&](std::string_view name, std::string_view value) {
                              headers.append(name);
                              headers += '\0';
                              headers.append(value);
                              headers += '\0';
                          });
        return std::to_string(headers.size()) + ":" + headers + ",";
    }
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
    const ScgiLocConf& c_;
};

Status set_pass(ConfContext& cf, ScgiLocConf& conf) {
    return proxy::set_protocol_pass(cf, conf);
}

Status set_param(ConfContext& cf, ScgiLocConf& conf) {
    return proxy::add_cgi_param(cf, conf.params);
}

Status refuse_store(ConfContext& cf) {
    return cf.error("\"" + std::string(cf.name()) +
                    "\" is not supported by halo: it keeps no copies of upstream responses "
                    "as files; serve them from the SCGI server");
}

constexpr uint32_t kAll = core::kCtxHttpAll;

constexpr core::Directive kOwnDirectives[] = {
    {"scgi_pass", core::kCtxLocation | core::kCtxLimitExcept, core::kArgs1,
     core::setter<&set_pass>()},
    {"scgi_param", kAll, core::Args{2, 3, false}, core::setter<&set_param>()},
    {"scgi_store", kAll, core::kArgs1, core::setter_noconf<&refuse_store>()},
    {"scgi_store_access", kAll, core::kArgs1To3, core::setter_noconf<&refuse_store>()},
};

constexpr proxy::CacheNames kCacheNames = HALO_CACHE_NAMES("scgi");

constexpr proxy::SharedNames kSharedNames = HALO_SHARED_NAMES("scgi");

constexpr auto kDirectives = tls::concat(
    tls::concat(std::to_array(kOwnDirectives), proxy::shared_directives<ScgiLocConf>(kSharedNames)),
    proxy::cache_directives<ScgiLocConf>(kCacheNames));

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<ScgiLocConf>(core::ConfLevel::kHttpLoc),
};

Status postconfiguration(core::Cycle& cycle) {
    return proxy::install_protocol<ScgiLocConf, ScgiCodec>(cycle, "scgi");
}

}  // namespace

extern const core::Module kModule{
    .name = "http_scgi",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::scgi
