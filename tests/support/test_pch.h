// The headers nearly every test file parses: GoogleTest, gmock and the common standard headers,
// compiled once into a precompiled header (objs/Makefile: TEST_PCH) that every test object
// includes first (-include): they are parsed once per build instead of once per test file.
// Only system headers here: a change to a project header must not rebuild every test object.
// Every test file still includes what it uses itself.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
