// The JSON codec of each model type: validation with the path at fault,
// encoding in SPEC's member order and the block's dialect.
#include "optdb/codec.hpp"

#include <limits>
#include <set>

#include <fmt/format.h>

namespace optdb {

namespace codec {

std::string typeName(const Json& j) {
  if (j.is_number_integer()) return "an integer";
  if (j.is_number_float()) return "a non-integer number";
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    default: return "a value";
  }
}

Status expected(std::string_view where, std::string_view what, const Json& got) {
  return Status::invalid(fmt::format("{}: must be {}, got {}", where, what, typeName(got)));
}

std::string member(std::string_view where, std::string_view key) {
  return fmt::format("{}[{}]", where, toJson(Json(std::string(key))));
}

Status onlyMembers(const Json& j, std::string_view where, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, _] : j.items()) {
    bool ok = false;
    for (auto a : allowed) ok = ok || k == a;
    if (!ok) return Status::invalid(fmt::format("{}: unknown member \"{}\"", where, k));
  }
  return Status::ok();
}

}  // namespace codec

using codec::expected;
using codec::member;
using codec::onlyMembers;

Result<Rev> decodeRev(const Json& j, std::string_view where) {
  if (!j.is_number_integer()) return expected(where, "an integer revision", j);
  if (j.is_number_integer() && !j.is_number_unsigned() && j.get<std::int64_t>() < 0)
    return Status::invalid(fmt::format("{}: revision must not be negative", where));
  auto r = j.get<std::uint64_t>();
  if (r > kMaxRev) return Status::invalid(fmt::format("{}: revision must be at most {}", where, kMaxRev));
  return r;
}

Result<TrxRev> decodeTrxRev(const Json& j, std::string_view where, Dialect* seen, std::optional<Rev> revKey) {
  const char* trxKey = namesOf(Dialect::Trx).idMember;
  if (!j.is_object()) return expected(where, fmt::format("an object {{\"{}\",\"rev\"}}", trxKey), j);
  const Dialect dialect = j.contains(trxKey) ? Dialect::Trx : Dialect::Actions;
  const char* idKey = namesOf(dialect).idMember;
  if (!j.contains(idKey) || !j[idKey].is_string())
    return Status::invalid(fmt::format("{}: {} must be a string", where, trxKey));
  TrxRev v;
  v.trxId = j[idKey].get<std::string>();
  OPTDB_TRY(validateTrxId(v.trxId, member(where, idKey)));
  if (!j.contains("rev")) {
    if (!revKey) return Status::invalid(fmt::format("{}: rev is missing", where));
    v.rev = *revKey;
  } else {
    OPTDB_ASSIGN(v.rev, decodeRev(j["rev"], member(where, "rev")));
  }
  if (seen) *seen = dialect;
  return v;
}

Json encodeTrxRev(const TrxRev& v, Dialect dialect) {
  Json j = Json::object();
  j[namesOf(dialect).idMember] = v.trxId;
  j["rev"] = v.rev;
  return j;
}

Status validateBlock(const Json& j, std::string_view expectedId, std::string_view where) {
  if (!j.is_object()) return expected(where, "a block object", j);
  auto h = j.find("header");
  if (h == j.end()) return Status::invalid(fmt::format("{}: block has no header", where));
  std::string hw = member(where, "header");
  if (!h->is_object()) return expected(hw, "an object", *h);
  for (const char* key : {"id", "type", "collectionId"}) {
    auto m = h->find(key);
    if (m == h->end()) return Status::invalid(fmt::format("{}: {} is missing", hw, key));
    if (!m->is_string()) return expected(member(hw, key), "a string", *m);
  }
  const auto& id = (*h)["id"].get_ref<const std::string&>();
  OPTDB_TRY(validateBlockId(id, member(hw, "id")));
  if (!expectedId.empty() && id != expectedId)
    return Status::invalid(fmt::format("{}: header.id \"{}\" differs from the block id \"{}\"", where, id, expectedId));
  // The parser allows an envelope's levels on top of the data: this is where the data's limit holds.
  if (nestsDeeperThan(j, kMaxJsonDepth))
    return Status::invalid(fmt::format("{}: block is nested deeper than {} levels", where, kMaxJsonDepth));
  return Status::ok();
}

Status validateOperation(const Json& j, std::string_view where) {
  if (!j.is_array() || j.size() != 4)
    return Status::invalid(fmt::format("{}: operation must be [entity, index, deleteCount, inserted]", where));
  if (!j[0].is_string()) return expected(fmt::format("{}[0]", where), "a string entity", j[0]);
  if (!j[1].is_number_integer())
    return Status::invalid(fmt::format("{}: index must be an integer", where));
  if (!j[2].is_number_integer())
    return Status::invalid(fmt::format("{}: deleteCount must be an integer", where));
  // Set or spliced in, `inserted` stands at the block's second level.
  if (nestsDeeperThan(j[3], kMaxJsonDepth - 1))
    return Status::invalid(fmt::format("{}: inserted would nest the block deeper than {} levels", where, kMaxJsonDepth));
  return Status::ok();
}

Result<Transform> decodeTransform(const Json& j, const BlockId& blockId, std::string_view where) {
  if (!j.is_object()) return expected(where, "a transform object", j);
  OPTDB_TRY(onlyMembers(j, where, {"insert", "updates", "delete"}));
  Transform t;
  if (auto m = j.find("insert"); m != j.end()) {
    OPTDB_TRY(validateBlock(*m, blockId, member(where, "insert")));
    t.insert = *m;
  }
  if (auto m = j.find("updates"); m != j.end()) {
    std::string uw = member(where, "updates");
    if (!m->is_array()) return expected(uw, "an array of operations", *m);
    for (size_t i = 0; i < m->size(); ++i) OPTDB_TRY(validateOperation((*m)[i], fmt::format("{}[{}]", uw, i)));
    t.updates = *m;
  }
  if (auto m = j.find("delete"); m != j.end()) {
    if (!m->is_boolean()) return expected(member(where, "delete"), "a boolean", *m);
    t.del = m->get<bool>();
  }
  return t;
}

Json encodeTransform(const Transform& t) {
  Json j = Json::object();
  if (t.insert) j["insert"] = *t.insert;
  if (t.updates) j["updates"] = *t.updates;
  if (t.del) j["delete"] = true;
  return j;
}

Result<Transforms> decodeTransforms(const Json& j, std::string_view where) {
  if (!j.is_object()) return expected(where, "a Transforms object {\"inserts\",\"updates\",\"deletes\"}", j);
  OPTDB_TRY(onlyMembers(j, where, {"inserts", "updates", "deletes"}));
  Transforms t;
  if (auto m = j.find("inserts"); m != j.end()) {
    if (!m->is_object()) return expected("inserts", "an object of blocks by id", *m);
    for (const auto& [id, block] : m->items()) {
      std::string w = member("inserts", id);
      OPTDB_TRY(validateBlockId(id, w));
      OPTDB_TRY(validateBlock(block, id, w));
      t.inserts.emplace_back(id, block);
    }
  }
  if (auto m = j.find("updates"); m != j.end()) {
    if (!m->is_object()) return expected("updates", "an object of operation arrays by id", *m);
    for (const auto& [id, ops] : m->items()) {
      std::string w = member("updates", id);
      OPTDB_TRY(validateBlockId(id, w));
      if (!ops.is_array()) return expected(w, "an array of operations", ops);
      for (size_t i = 0; i < ops.size(); ++i) OPTDB_TRY(validateOperation(ops[i], fmt::format("{}[{}]", w, i)));
      t.updates.emplace_back(id, ops);
    }
  }
  if (auto m = j.find("deletes"); m != j.end()) {
    // Newer upstream trees write {} for an empty list.
    if (m->is_object() && m->empty()) {
    } else if (!m->is_array()) {
      return expected("deletes", "an array of block ids", *m);
    } else {
      std::set<BlockId> seen;
      for (size_t i = 0; i < m->size(); ++i) {
        std::string w = fmt::format("deletes[{}]", i);
        const auto& id = (*m)[i];
        if (!id.is_string()) return expected(w, "a block id string", id);
        OPTDB_TRY(validateBlockId(id.get_ref<const std::string&>(), w));
        if (seen.insert(id.get<std::string>()).second) t.deletes.push_back(id.get<std::string>());
      }
    }
  }
  return t;
}

Json encodeTransforms(const Transforms& t) {
  auto byId = [](const std::vector<std::pair<BlockId, Json>>& list) {
    std::vector<JsonMember> members(list.begin(), list.end());
    return jsonObject(members);
  };
  Json j = Json::object();
  j["inserts"] = byId(t.inserts);
  j["updates"] = byId(t.updates);
  j["deletes"] = Json::array();
  for (const auto& id : t.deletes) j["deletes"].push_back(id);
  return j;
}

Result<Ranges> decodeRanges(const Json& j, std::string_view where) {
  if (!j.is_array()) return expected(where, "an array of ranges", j);
  Ranges out;
  for (size_t i = 0; i < j.size(); ++i) {
    std::string w = fmt::format("{}[{}]", where, i);
    const auto& r = j[i];
    // [start], [start, end] or, from newer upstream trees, [start, null].
    if (!r.is_array() || r.empty() || r.size() > 2)
      return Status::invalid(fmt::format("{}: range must be [start] or [start, end]", w));
    Range range;
    OPTDB_ASSIGN(range.start, decodeRev(r[0], w + "[0]"));
    if (r.size() == 2 && !r[1].is_null()) {
      OPTDB_ASSIGN(Rev end, decodeRev(r[1], w + "[1]"));
      if (end <= range.start) return Status::invalid(fmt::format("{}: range end must be above its start", w));
      range.end = end;
    }
    out.push_back(range);
  }
  return out;
}

Json encodeRanges(const Ranges& ranges) {
  Json j = Json::array();
  for (const auto& r : ranges) {
    Json e = Json::array({r.start});
    if (r.end) e.push_back(*r.end);
    j.push_back(e);
  }
  return j;
}

Result<BlockMeta> decodeMeta(const Json& j, std::string_view where) {
  if (!j.is_object()) return expected(where, "a metadata object", j);
  BlockMeta m;
  auto r = j.find("ranges");
  if (r == j.end()) return Status::invalid(fmt::format("{}: ranges is missing", where));
  OPTDB_ASSIGN(m.ranges, decodeRanges(*r, member(where, "ranges")));
  if (auto l = j.find("latest"); l != j.end() && !l->is_null()) {
    OPTDB_ASSIGN(m.latest, decodeTrxRev(*l, member(where, "latest"), &m.dialect));
  }
  return m;
}

MetaReading decodeMetaLeniently(const Json& j) {
  MetaReading out;
  if (!j.is_object()) {
    out.why = "meta.json is not a JSON object";
    return out;
  }
  auto r = j.find("ranges");
  if (r == j.end() || !r->is_array()) {
    out.why = r == j.end() ? "meta.json has no ranges" : "meta.json: ranges is not an array";
    return out;
  }
  BlockMeta meta;
  meta.ranges.clear();
  if (auto l = j.find("latest"); l != j.end() && !l->is_null()) {
    auto latest = decodeTrxRev(*l, "latest", &meta.dialect);
    if (!latest) {
      out.why = "meta.json: " + latest.status().message();
      return out;
    }
    meta.latest = *latest;
  }
  for (const auto& entry : *r) {
    auto one = decodeRanges(Json::array({entry}), "ranges");
    if (one) meta.ranges.push_back(one->front());
    else out.malformedRanges.push_back(entry);
  }
  out.meta = std::move(meta);
  return out;
}

Json encodeMeta(const BlockMeta& m) {
  Json j = Json::object();
  j["ranges"] = encodeRanges(m.ranges);
  if (m.latest) j["latest"] = encodeTrxRev(*m.latest, m.dialect);
  return j;
}

// ---- commit intents ----

Json encodeIntent(const CommitIntent& intent) {
  Json j = Json::object();
  j["trxId"] = intent.trxId;
  j["rev"] = intent.rev;
  j["blockIds"] = intent.blockIds;
  return j;
}

Result<CommitIntent> decodeIntent(std::string_view text, const std::string& path) {
  auto j = parseJson(text, path);
  if (!j) return Status::integrity(j.status().message());
  auto malformed = [&](std::string_view why) {
    return Status::integrity(fmt::format("{}: malformed commit intent: {}", path, why));
  };
  if (!j->is_object()) return malformed("not an object");
  auto t = j->find("trxId");
  if (t == j->end() || !t->is_string() || !validateTrxId(t->get<std::string>(), ""))
    return malformed("trxId is not a transaction id");
  CommitIntent in;
  in.trxId = t->get<std::string>();
  auto rev = decodeRev(j->value("rev", Json()), "rev");
  if (!rev) return malformed(rev.status().message());
  in.rev = *rev;
  auto b = j->find("blockIds");
  if (b == j->end() || !b->is_array()) return malformed("blockIds is not an array");
  for (const auto& id : *b) {
    if (!id.is_string() || !validateBlockId(id.get<std::string>(), "")) return malformed("blockIds holds an invalid block id");
    in.blockIds.push_back(id.get<std::string>());
  }
  return in;
}

}  // namespace optdb
