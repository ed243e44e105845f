#pragma once

// `halo --import-keepalived keepalived.conf`: turns a keepalived configuration into a halo.conf
// (global_defs, vrrp_script and vrrp_instance into the `vrrp { }` block; virtual_server and
// real_server into a `stream { }` block: an upstream group, a health_check and a stream server
// proxying TCP or UDP to it). Every keyword that has no halo equivalent is reported with its
// file and line and left out, so that the output always passes `halo -t`.
// docs/migrating-keepalived.md has the mapping table.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace vrrp::keepalived {

/// What an import produced.
struct ImportResult {
    std::string conf;                  // the halo.conf text
    std::vector<std::string> skipped;  // "file:line: keepalived keyword ..." lines, in order
};

/// Imports the keepalived configuration `path` (its includes resolved relative to it). An
/// error only when the file cannot be read or parsed; unmapped keywords go to `skipped`.
core::Status import_file(const std::string& path, ImportResult& out);

/// The same for inline text named `name` (includes resolve against the current directory).
core::Status import_text(std::string_view text, const std::string& name, ImportResult& out);

/// The `--import-keepalived` command: the conf on stdout, one line per skipped keyword on
/// stderr. Returns the process exit code (0 when the conf was printed).
int run_import(const std::string& path);

}  // namespace vrrp::keepalived
