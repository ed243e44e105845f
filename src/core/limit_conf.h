#pragma once

// The level conf nginx's limit modules share (http limit_conn and limit_req, stream
// limit_conn): the limits of a level (`limit_conn`, `limit_req`; a level without any inherits
// the enclosing level's list), `*_log_level` (error), `*_status` (503; http only, stream ends
// the session with 503) and `*_dry_run` (off). `List` is the module's list of limits; `Tag`
// makes each module's conf a type of its own (a conf type belongs to one module).

#include <memory>
#include <optional>

#include "core/conf_context.h"
#include "core/log.h"
#include "core/module.h"
#include "core/named.h"
#include "core/status.h"

namespace core {

template <class List, class Tag>
struct LimitConf : ConfBase {
    std::shared_ptr<List> limits;       // this level's, else the inherited ones
    std::optional<LogLevel> log_level;  // error
    std::optional<int> status;          // 503
    std::optional<bool> dry_run;        // off
};

template <class List, class Tag>
Status merge(const LimitConf<List, Tag>& parent, LimitConf<List, Tag>& child) {
    if (!child.limits) {
        child.limits = parent.limits;
    }
    inherit(child.log_level, parent.log_level, LogLevel::kError);
    inherit(child.status, parent.status, 503);
    inherit(child.dry_run, parent.dry_run, false);
    return Status::ok();
}

/// The words of `*_status` out of range.
inline constexpr char kLimitStatusRange[] = "it must be between 400 and 599";

/// The levels `limit_conn_log_level` and `limit_req_log_level` take (nginx's: info, notice,
/// warn, error).
inline constexpr Named<LogLevel> kLimitLogLevels[] = {
    {"info", LogLevel::kInfo},
    {"notice", LogLevel::kNotice},
    {"warn", LogLevel::kWarn},
    {"error", LogLevel::kError},
};

}  // namespace core
