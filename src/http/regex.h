#pragma once

// http's name for the regex layer's patterns (src/regex).
#include "regex/regex.h"

namespace http {

using regex::apply_pcre_jit;
using regex::Regex;

}  // namespace http
