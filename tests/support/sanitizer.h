// Sanitizer reports of the processes a test started (make asan).
//
// `make asan` runs the integration suite with ASAN_OPTIONS/UBSAN_OPTIONS log_path pointing
// into one folder, named by $HALO_SANITIZER_REPORTS: a halo master, worker or helper that hits
// a sanitizer error writes its report there as <tool>.<pid> instead of to a stderr nobody
// reads. The harness calls expect_no_sanitizer_reports() whenever a process it ran has ended,
// so the test that started it fails with the report in its output.
#pragma once

#include <string_view>

namespace halo_test {

/// With $HALO_SANITIZER_REPORTS set: every report file there not seen by an earlier call adds
/// a test failure (ADD_FAILURE) that prints the report; `what` names the process(es) that just
/// ended. Without the variable (a normal build): does nothing.
void expect_no_sanitizer_reports(std::string_view what);

/// True in a `make asan` run ($HALO_SANITIZER_REPORTS set): the halo under test is the
/// sanitized one, whose resident memory starts some 20 MiB higher (shadow memory, allocator
/// quarantine). For memory bounds, and to skip only the tests whose premise the sanitizer
/// removes (an address-space limit it cannot start under, a crash its handler turns into a
/// report and exit 1).
bool sanitized_run();

}  // namespace halo_test
