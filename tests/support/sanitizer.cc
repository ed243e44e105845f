#include "support/sanitizer.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

namespace halo_test {

void expect_no_sanitizer_reports(std::string_view what) {
    static std::set<std::string> seen;
    const char* dir = getenv("HALO_SANITIZER_REPORTS");
    if (dir == nullptr || *dir == '\0') {
        return;
    }
    DIR* d = opendir(dir);
    if (d == nullptr) {
        ADD_FAILURE() << "HALO_SANITIZER_REPORTS=" << dir << " cannot be read";
        return;
    }
    std::vector<std::string> fresh;
    while (struct dirent* e = readdir(d)) {
        std::string path = std::string(dir) + "/" + e->d_name;
        struct stat st;
        if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && seen.insert(path).second) {
            fresh.push_back(path);
        }
    }
    closedir(d);
    std::sort(fresh.begin(), fresh.end());
    for (const std::string& path : fresh) {
        std::ifstream in(path);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        ADD_FAILURE() << "sanitizer report " << path << " (after " << what << "):\n" << text;
    }
}

bool sanitized_run() {
    const char* dir = getenv("HALO_SANITIZER_REPORTS");
    return dir != nullptr && *dir != '\0';
}

}  // namespace halo_test
