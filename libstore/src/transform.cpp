// Applying a Transform to a block with JavaScript's splice semantics.
#include "optdb/transform.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace optdb {

namespace {

// Integer JSON values as int64, saturating those beyond its range.
std::int64_t asInt64(const Json& j) {
  if (j.is_number_unsigned()) {
    auto u = j.get<std::uint64_t>();
    return u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
               ? std::numeric_limits<std::int64_t>::max()
               : static_cast<std::int64_t>(u);
  }
  return j.get<std::int64_t>();
}

}  // namespace

Status applyOperation(Json& block, const Json& op) {
  if (!op.is_array() || op.size() != 4 || !op[0].is_string() || !op[1].is_number_integer() ||
      !op[2].is_number_integer())
    return Status::invalid("operation must be [entity, index, deleteCount, inserted] with integer index and deleteCount");
  const auto& entity = op[0].get_ref<const std::string&>();
  const Json& inserted = op[3];
  if (!inserted.is_array()) {
    block[entity] = inserted;  // a new member goes last; an existing one keeps its place
    return Status::ok();
  }
  auto it = block.find(entity);
  if (it == block.end() || !it->is_array())
    return Status::invalid(fmt::format("cannot splice member \"{}\": it is {}", entity,
                                       it == block.end() ? "missing" : "not an array"));
  auto& arr = *it;
  const std::int64_t len = static_cast<std::int64_t>(arr.size());
  const std::int64_t index = asInt64(op[1]);
  const std::int64_t start = index < 0 ? std::max(len + std::max(index, -len), std::int64_t{0}) : std::min(index, len);
  const std::int64_t count = std::min(std::max(asInt64(op[2]), std::int64_t{0}), len - start);
  auto& vec = arr.get_ref<Json::array_t&>();
  vec.erase(vec.begin() + start, vec.begin() + start + count);
  vec.insert(vec.begin() + start, inserted.begin(), inserted.end());
  return Status::ok();
}

Result<std::optional<Json>> applyTransform(std::optional<Json> block, const Transform& t) {
  if (t.insert) block = *t.insert;
  if (block && t.updates) {
    for (size_t i = 0; i < t.updates->size(); ++i) {
      Status s = applyOperation(*block, (*t.updates)[i]);
      if (!s) return Status::invalid(fmt::format("updates[{}]: {}", i, s.message()));
    }
  }
  if (t.del) block.reset();
  return block;
}

}  // namespace optdb
