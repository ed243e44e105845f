#pragma once

// Process titles as nginx sets them on Linux (`ps` shows "halo: master process /usr/sbin/halo
// -c /etc/halo/halo.conf", "halo: worker process"...): the title is written over the argv
// area, which is first made longer by moving the environment strings out of its way.

#include <string>
#include <string_view>

namespace core {

/// Call once, first thing in main(): remembers the command line and copies the environment
/// strings to the heap (getenv() keeps working), so that the argv area and the environment
/// area after it, when contiguous, can hold a title.
void init_process_title(int argc, char** argv);

/// The command line halo was started with, its words joined by spaces ("/usr/sbin/halo -c
/// /etc/halo/halo.conf"), as nginx shows it in the master's title.
const std::string& original_command_line();

/// Sets the title to "halo: " + `title` (cut to the room there is). No-op before
/// init_process_title().
void set_process_title(std::string_view title);

}  // namespace core
