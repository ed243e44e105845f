// The http_upstream_hash module: `hash key [consistent];` and `ip_hash;` in upstream blocks.
#include <memory>
#include <string>

#include "core/conf_context.h"
#include "core/module.h"
#include "http/variables.h"
#include "modules/upstream_hash/hash.h"
#include "upstream/upstream.h"

namespace mod::upstream_hash {
namespace {

using core::ConfContext;
using core::Status;

struct HashConf : upstream::UpstreamConf {};

Status set_hash(ConfContext& cf, HashConf& conf) {
    auto data = std::make_unique<HashData>();
    if (cf.args().size() == 2) {
        if (cf.arg(1) != "consistent") {
            return cf.error("invalid parameter \"" + cf.arg(1) + "\"");
        }
        data->consistent = true;
    }
    bool stream = conf.group->stream();
    if (!stream) {
        HALO_TRY(http::ComplexValue::parse(cf.arg(0), cf.node().where(), data->key));
    }
    HashData* d = data.get();
    Status s = conf.group->set_balancer(&hash_balancer(), std::move(data));
    if (!s.is_ok()) {
        return cf.error(s.message());
    }
    if (stream) {
        // The stream proxy evaluates it with the stream variables (upstream.h).
        conf.group->set_stream_hash_key(cf.arg(0));
    } else {
        http::register_complex_value(cf.cycle(), &d->key);
    }
    return Status::ok();
}

Status set_ip_hash(ConfContext& cf, HashConf& conf) {
    if (conf.group->stream()) {
        return cf.error(
            "\"ip_hash\" directive is not allowed in a stream upstream (nginx's "
            "stream has none): use \"hash $remote_addr;\"");
    }
    Status s = conf.group->set_balancer(&ip_hash_balancer(), std::make_unique<HashData>());
    return s.is_ok() ? s : cf.error(s.message());
}

constexpr core::Directive kDirectives[] = {
    {"hash", core::kCtxUpstream, core::kArgs1To2, core::setter<&set_hash>()},
    {"ip_hash", core::kCtxUpstream, core::kArgs0, core::setter<&set_ip_hash>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<HashConf>(core::ConfLevel::kUpstream),
};

}  // namespace

extern const core::Module kModule{
    .name = "http_upstream_hash",
    .type = core::ModuleType::kHttpUpstream,
    .directives = kDirectives,
    .confs = kConfs,
};

}  // namespace mod::upstream_hash
