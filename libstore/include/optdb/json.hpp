// JSON values keep their members in input order; output is byte-identical to
// JavaScript's JSON.stringify (SPEC §1), which nlohmann's dump() is not.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "optdb/status.hpp"

namespace optdb {

using Json = nlohmann::ordered_json;

// How deep data may nest: a Block, and so what a Block member holds (SPEC §7).
// JavaScript itself cannot write a deeper value; writing and copying one would
// overflow the stack.
constexpr int kMaxJsonDepth = 5000;

// Parses one JSON text. `what` names the input in the error message. Nesting
// deeper than kMaxJsonDepth + `envelopeDepth` levels is refused as invalid
// input: a format that wraps blocks (a Transform, an archive; codec.hpp has
// their envelopes) passes the levels it adds, so that the limit falls on the
// data, and its codec holds the data to kMaxJsonDepth.
Result<Json> parseJson(std::string_view text, std::string_view what, int envelopeDepth = 0);

// Whether `value` nests deeper than `levels` (arrays and objects count, as
// parseJson counts them). Never recurses: any depth is safe.
bool nestsDeeperThan(const Json& value, int levels);

using JsonMember = std::pair<std::string, Json>;
// The object of `members` (moved from), in linear time: ordered_json's
// operator[] and find are linear searches, so a loop of them is quadratic. A
// repeated key keeps its first place and its last value, as JSON.parse.
Json jsonObject(std::span<JsonMember> members);

// Compact, as JSON.stringify(v); or indented by two spaces, as JSON.stringify(v, null, 2).
std::string toJson(const Json& value, bool pretty = false);
void appendJson(std::string& out, const Json& value, bool pretty = false);

// JavaScript's Number.prototype.toString for a finite double.
std::string formatNumber(double value);

}  // namespace optdb
