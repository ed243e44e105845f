#pragma once

// vrrp_sync_group: the block's directives (setters used by the module's directive table) and
// the checks made once the whole vrrp block is read. The group's behaviour in the helper is
// SyncGroup (vrrp_runtime.h, vrrp_sync.cc).

#include "core/conf_context.h"
#include "modules/vrrp/vrrp_conf.h"

namespace vrrp {

/// `vrrp_sync_group NAME { ... }` in `vrrp { }`.
core::Status set_vrrp_sync_group(core::ConfContext& cf, VrrpConf& conf);
/// `group { VI_1; VI_2; }` in a vrrp_sync_group.
core::Status set_sync_group_members(core::ConfContext& cf, VrrpConf& conf);
/// `sync_group_tracking_weight;` in a vrrp_sync_group.
core::Status set_sync_group_tracking_weight(core::ConfContext& cf, VrrpConf& conf);
/// Once the instances are resolved: every member exists and belongs to one group only;
/// each InstanceConf learns its group.
core::Status resolve_sync_groups(VrrpConf& conf);

}  // namespace vrrp
