// auth_basic and auth_basic_user_file, as nginx's auth_basic module: in the access phase, a
// request must bring Basic credentials (RFC 7617) of a user of the htpasswd file whose
// password gives that user's hash; otherwise 401 with `WWW-Authenticate: Basic realm="..."`.
// The verdict goes through the access phase's satisfy contract (phases.cc): kAllow, or
// deny_access() with 401, 403 (the file does not exist, as nginx) or 500.
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/module.h"
#include "http/basic_auth.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/modules/auth_basic/htpasswd.h"
#include "http/stats.h"

namespace mod::auth_basic {
namespace {

using core::ConfContext;
using core::Status;

/// auth_basic_user_file: the name (text and variables); a relative name is taken from the
/// configuration's folder, as nginx's conf prefix.
struct UserFile {
    http::ComplexValue value;
    std::string dir;  // the configuration's folder
};

struct AuthBasicLocConf : core::ConfBase {
    // Set at a level (nullptr inside: none); inherited whole otherwise.
    std::optional<std::shared_ptr<http::ComplexValue>> realm;
    std::optional<std::shared_ptr<UserFile>> user_file;
};

Status merge(const AuthBasicLocConf& parent, AuthBasicLocConf& child) {
    core::inherit(child.realm, parent.realm, nullptr);
    core::inherit(child.user_file, parent.user_file, nullptr);
    return Status::ok();
}

Status set_realm(ConfContext& cf, AuthBasicLocConf& conf) {
    if (conf.realm) {
        return cf.duplicate();
    }
    auto cv = std::make_shared<http::ComplexValue>();
    HALO_TRY(http::ComplexValue::parse(cf.arg(0), cf.node().where(), *cv));
    http::register_complex_value(cf.cycle(), cv.get());
    conf.realm = std::move(cv);
    return Status::ok();
}

Status set_user_file(ConfContext& cf, AuthBasicLocConf& conf) {
    if (conf.user_file) {
        return cf.duplicate();
    }
    auto f = std::make_shared<UserFile>();
    HALO_TRY(http::ComplexValue::parse(cf.arg(0), cf.node().where(), f->value));
    http::register_complex_value(cf.cycle(), &f->value);
    f->dir = cf.cycle().conf_dir();
    conf.user_file = std::move(f);
    return Status::ok();
}

constexpr uint32_t kContexts = core::kCtxHttpAll | core::kCtxLimitExcept;

constexpr core::Directive kDirectives[] = {
    {"auth_basic", kContexts, core::kArgs1, core::setter<&set_realm>()},
    {"auth_basic_user_file", kContexts, core::kArgs1, core::setter<&set_user_file>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<AuthBasicLocConf>(core::ConfLevel::kHttpLoc),
};

FileCache& file_cache() {
    static FileCache cache;  // one per process: workers read their files themselves
    return cache;
}

/// The 401 of a refusal, with the challenge (nginx's ngx_http_auth_basic_set_realm).
http::Flow challenge(http::Request& r, const std::string& realm, http::AuthBasicFailure why) {
    http::count_auth_basic_failure(why);
    r.out_headers.emplace_back("WWW-Authenticate", "Basic realm=\"" + realm + "\"");
    return http::deny_access(r, 401);
}

http::Flow auth_basic_handler(http::Request& r) {
    const auto& c = r.loc_conf<AuthBasicLocConf>();
    if (!c.realm || *c.realm == nullptr || !c.user_file || *c.user_file == nullptr) {
        return http::Flow::kDeclined;
    }
    std::string realm = (*c.realm)->eval(r);
    if (realm == "off") {
        return http::Flow::kDeclined;
    }
    std::optional<http::BasicCredentials> creds = http::basic_credentials(r);
    if (!creds) {
        http::log_error(r, core::LogLevel::kInfo,
                        "no user/password was provided for basic authentication");
        return challenge(r, realm, http::AuthBasicFailure::kNoCredentials);
    }
    const UserFile& uf = **c.user_file;
    std::string path = uf.value.eval(r);
    if (!path.empty() && path[0] != '/') {
        path = uf.dir + "/" + path;
    }
    Lookup found = file_cache().find(path, creds->user);
    std::string user = http::escape_log(creds->user);
    switch (found.result) {
        case Lookup::Result::kOpenFailed: {
            // nginx: a file that does not exist refuses (403), any other failure is a 500.
            bool missing = found.error == ENOENT;
            http::log_error(r, missing ? core::LogLevel::kError : core::LogLevel::kCrit,
                            "open() \"%s\" failed (%d: %s)", path.c_str(), found.error,
                            strerror(found.error));
            return http::deny_access(r, missing ? 403 : 500);
        }
        case Lookup::Result::kReadFailed:
            http::log_error(r, core::LogLevel::kCrit, "pread() \"%s\" failed (%d: %s)",
                            path.c_str(), found.error, strerror(found.error));
            return http::deny_access(r, 500);
        case Lookup::Result::kNotFound:
            http::log_error(r, core::LogLevel::kError, "user \"%s\" was not found in \"%s\"",
                            user.c_str(), path.c_str());
            return challenge(r, realm, http::AuthBasicFailure::kUserNotFound);
        case Lookup::Result::kFound:
            break;
    }
    switch (check_password(creds->password, found.hash)) {
        case Check::kMatch:
            return http::Flow::kAllow;
        case Check::kMismatch:
            http::log_error(r, core::LogLevel::kError, "user \"%s\": password mismatch",
                            user.c_str());
            return challenge(r, realm, http::AuthBasicFailure::kPasswordMismatch);
        case Check::kError:
            http::log_error(r, core::LogLevel::kCrit, "crypt_r() failed (%d: %s)", errno,
                            strerror(errno));
            return http::deny_access(r, 500);
    }
    return http::deny_access(r, 500);
}

constexpr http::PhaseHandlerEntry kPhaseHandlers[] = {
    {http::Phase::kAccess, &auth_basic_handler},
};

}  // namespace

extern const core::Module kModule{
    .name = "http_auth_basic",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &http::register_phase_handlers<kPhaseHandlers>,
};

}  // namespace mod::auth_basic
