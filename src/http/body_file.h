#pragma once
// Request bodies in named temporary files, as nginx keeps them: client_body_temp_path with its
// levels, client_body_in_file_only (on: the file is left behind, clean: removed after the
// request) and $request_body_file. The http core module appends kBodyFileDirectives to its
// table; Session::store_body() writes through create_body_file().
#include <string>

#include "core/conf_context.h"
#include "core/module.h"
#include "http/http.h"

namespace http {

core::Status set_client_body_temp_path(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_client_body_in_file_only(core::ConfContext& cf, HttpLocConf& conf);

inline constexpr core::Directive kBodyFileDirectives[] = {
    {"client_body_temp_path", core::kCtxHttpAll, core::Args{1, 4, false},
     core::setter<&set_client_body_temp_path>()},
    {"client_body_in_file_only", core::kCtxHttpAll, core::kArgs1,
     core::setter<&set_client_body_in_file_only>()},
};

/// nginx's temporary file name in `dir` for `number`: ten digits, under one folder per level
/// made of the name's last digits ("dir/7/45/0000004457" for levels 1 2).
std::string temp_file_name(const std::string& dir, const std::vector<int>& levels, uint32_t number);

/// Whether `r` gets a body file even when its body is empty: client_body_in_file_only is on
/// or clean and the request declares a body (a Content-Length, even 0, or chunked), as nginx.
bool wants_body_file(const Request& r);

/// Creates a new temporary file for a request body in the location's client_body_temp_path
/// (the level folders as needed, 0600, owned by the worker) and stores its name in `name`.
/// Unless `keep_name` (client_body_in_file_only) the name is unlinked at once, as nginx does:
/// the file lives as long as its descriptor. -1 with errno set on error.
int create_body_file(const HttpLocConf& lc, bool keep_name, std::string& name);

}  // namespace http
