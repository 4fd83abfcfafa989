// JSON values keep their members in input order; output is byte-identical to
// JavaScript's JSON.stringify (SPEC §1), which nlohmann's dump() is not.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "optdb/status.hpp"

namespace optdb {

using Json = nlohmann::ordered_json;

// Parses one JSON text. `what` names the input in the error message. Nesting
// deeper than 5,000 levels is refused as invalid input (JavaScript itself
// cannot write such a value; writing and copying it would overflow the stack).
Result<Json> parseJson(std::string_view text, std::string_view what);

// Compact, as JSON.stringify(v); or indented by two spaces, as JSON.stringify(v, null, 2).
std::string toJson(const Json& value, bool pretty = false);
void appendJson(std::string& out, const Json& value, bool pretty = false);

// JavaScript's Number.prototype.toString for a finite double.
std::string formatNumber(double value);

}  // namespace optdb
