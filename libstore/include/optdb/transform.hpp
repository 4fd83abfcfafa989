// Applying transforms exactly as the reference does (SPEC §1), with
// JavaScript's Array.prototype.splice semantics.
#pragma once

#include <optional>

#include "optdb/json.hpp"
#include "optdb/model.hpp"

namespace optdb {

// Applies one BlockOperation in place. Fails (InvalidInput) when the
// operation cannot apply: a splice on a missing or non-array member.
Status applyOperation(Json& block, const Json& op);

// insert, then updates (only when a block is present), then delete.
Result<std::optional<Json>> applyTransform(std::optional<Json> block, const Transform& t);

}  // namespace optdb
