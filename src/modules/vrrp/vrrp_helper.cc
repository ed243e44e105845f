#include "modules/vrrp/vrrp_helper.h"

namespace vrrp {

// The helper process comes with the runtime (vrrp_io, vrrp_instance); nothing runs yet.
core::Status setup_helper(core::Cycle& cycle, VrrpConf& conf) {
    return core::Status::ok();
}

}  // namespace vrrp
