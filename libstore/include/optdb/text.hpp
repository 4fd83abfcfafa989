// Text as optdb prints it: one UTF-8 decoder for every place that validates
// an id or makes a message safe to print on one line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace optdb {

// The length of the valid UTF-8 sequence at s[i] (1–4), or 0 when the bytes
// there are not one (overlong, a surrogate, beyond U+10FFFF, cut short).
std::size_t utf8SequenceAt(std::string_view s, std::size_t i);

// The offset of the first byte that does not start a valid sequence, or npos.
std::size_t invalidUtf8At(std::string_view s);

// `s` with control characters and invalid bytes written as \xNN: valid UTF-8
// on one line, whatever a file name or an input held.
std::string printable(std::string_view s);

}  // namespace optdb
