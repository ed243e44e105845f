#include "core/proctitle.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern char** environ;

namespace core {
namespace {

char** g_argv = nullptr;
char* g_end = nullptr;  // one past the last byte of the contiguous argv (+ environ) area
std::string g_command_line;

}  // namespace

void init_process_title(int argc, char** argv) {
    if (argc < 1 || argv == nullptr || argv[0] == nullptr) {
        return;
    }
    g_command_line.clear();
    for (int i = 0; i < argc; i++) {
        if (i > 0) {
            g_command_line += ' ';
        }
        g_command_line += argv[i];
    }
    char* end = argv[0];
    for (int i = 0; i < argc; i++) {
        if (argv[i] == end) {
            end = argv[i] + strlen(argv[i]) + 1;
        }
    }
    // The environment strings usually follow the arguments: copies take their place in
    // `environ`, and their bytes join the room for a title.
    for (int i = 0; environ != nullptr && environ[i] != nullptr; i++) {
        if (environ[i] == end) {
            size_t n = strlen(environ[i]) + 1;
            end = environ[i] + n;
            char* copy = static_cast<char*>(malloc(n));
            if (copy == nullptr) {
                return;  // leave everything as it is: no title
            }
            memcpy(copy, environ[i], n);
            environ[i] = copy;
        }
    }
    g_argv = argv;
    g_end = end;
}

const std::string& original_command_line() {
    return g_command_line;
}

void set_process_title(std::string_view title) {
    if (g_argv == nullptr) {
        return;
    }
    char* p = g_argv[0];
    size_t room = static_cast<size_t>(g_end - p);
    if (room < 2) {
        return;
    }
    std::string text = "halo: ";
    text.append(title);
    size_t n = std::min(text.size(), room - 1);
    memcpy(p, text.data(), n);
    // The rest is cleared, so the kernel's /proc/<pid>/cmdline ends at the title.
    memset(p + n, '\0', room - n);
    g_argv[1] = nullptr;
}

}  // namespace core
