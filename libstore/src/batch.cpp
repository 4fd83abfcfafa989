// optdb batch's request codec: each NDJSON line decoded, run through the
// Store, and answered with the one-shot command's result and exit status.
#include "optdb/batch.hpp"

#include <cmath>

#include <fmt/format.h>

#include "optdb/codec.hpp"
#include "optdb/integrity.hpp"

namespace optdb {

namespace {

using codec::expected;
using codec::member;
using codec::onlyMembers;

// A request's members, decoded with the names the protocol gives them.
struct Request {
  const Json& j;

  const Json* find(const char* key) const {
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  }
  Result<std::string> string(const char* key) const {
    const Json* v = find(key);
    if (!v) return Status::invalid(fmt::format("{} is missing", key));
    if (!v->is_string()) return expected(key, "a string", *v);
    return v->get<std::string>();
  }
  Result<TrxId> trxId() const {
    OPTDB_ASSIGN(auto id, string("trxId"));
    OPTDB_TRY(validateTrxId(id, "trxId"));
    return id;
  }
  Result<std::vector<BlockId>> blockIds() const {
    const Json* v = find("blockIds");
    if (!v) return Status::invalid("blockIds is missing");
    if (!v->is_array()) return expected("blockIds", "an array of block ids", *v);
    std::vector<BlockId> ids;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const std::string w = fmt::format("blockIds[{}]", i);
      if (!(*v)[i].is_string()) return expected(w, "a block id string", (*v)[i]);
      ids.push_back((*v)[i].get<std::string>());
      OPTDB_TRY(validateBlockId(ids.back(), w));
    }
    return ids;
  }
  static Result<std::optional<Rev>> rev(const Json& in, const std::string& where) {
    auto it = in.find("rev");
    if (it == in.end()) return std::optional<Rev>();
    OPTDB_ASSIGN(Rev r, decodeRev(*it, where));
    return std::optional<Rev>(r);
  }
};

// What a call returned, as the protocol answers it: the result and the exit
// status the one-shot command would have, or its error.
template <typename R>
Json answered(const Result<R>& r) {
  Json out = Json::object();
  if (!r) {
    out["exit"] = static_cast<int>(r.status().code());
    out["error"] = r.status().message();
    return out;
  }
  out["exit"] = static_cast<int>(r->exitCode());
  out["result"] = r->toJson();
  return out;
}

// inspect --json's answer: {"blocks":[…],"summary":{…}}.
struct InspectAnswer {
  Json blocks = Json::array();
  SummaryResult summary;
  Code exitCode() const {
    if (summary.store.problems > 0) return Code::Integrity;
    return summary.notFound.empty() ? Code::Ok : Code::NotFound;
  }
  Json toJson() const {
    Json j = Json::object();
    j["blocks"] = blocks;
    j["summary"] = summary.store.toJson();
    return j;
  }
};

Result<InspectAnswer> inspect(Store& store, std::vector<BlockId> ids) {
  InspectAnswer a;
  SummaryOptions o;
  o.blockIds = std::move(ids);
  OPTDB_ASSIGN(a.summary, store.summarize(
                              o, [&](const BlockSummary& s) { a.blocks.push_back(s.toJson()); },
                              [](const Problem&) {}));
  return a;
}

// The request's answer, or the reason it is not a valid request (InvalidInput).
Result<Json> run(Store& repo, const Json& j, bool* flush) {
  if (!j.is_object()) return expected("request", "a JSON object {\"op\",…}", j);
  auto op = j.find("op");
  if (op == j.end()) return Status::invalid("op is missing");
  if (!op->is_string()) return expected("op", "a string", *op);
  const std::string name = op->get<std::string>();
  const Request req{j};
  if (name == "get") {
    OPTDB_TRY(onlyMembers(j, "request", {"op", "id", "blockIds", "context"}));
    OPTDB_ASSIGN(auto ids, req.blockIds());
    GetContext ctx;
    if (const Json* c = req.find("context")) {
      if (!c->is_object()) return expected("context", "an object {\"committed\",\"rev\",\"trxId\"}", *c);
      OPTDB_TRY(onlyMembers(*c, "context", {"committed", "rev", "trxId"}));
      OPTDB_ASSIGN(ctx.rev, req.rev(*c, "context.rev"));
      if (auto t = c->find("trxId"); t != c->end()) {
        if (!t->is_string()) return expected("context.trxId", "a string", *t);
        OPTDB_TRY(validateTrxId(t->get<std::string>(), "context.trxId"));
        ctx.trxId = t->get<std::string>();
      }
      if (auto cs = c->find("committed"); cs != c->end()) {
        if (!cs->is_array()) return expected("context.committed", "an array of {\"trxId\",\"rev\"}", *cs);
        for (std::size_t i = 0; i < cs->size(); ++i) {
          OPTDB_ASSIGN(auto tr, decodeTrxRev((*cs)[i], fmt::format("context.committed[{}]", i)));
          ctx.committed.push_back(std::move(tr));
        }
      }
    }
    return answered(repo.get(ids, ctx));
  }
  if (name == "pend") {
    OPTDB_TRY(onlyMembers(j, "request", {"op", "id", "trxId", "transforms", "rev", "policy", "timeout"}));
    PendRequest p;
    OPTDB_ASSIGN(p.trxId, req.trxId());
    const Json* t = req.find("transforms");
    if (!t) return Status::invalid("transforms is missing");
    OPTDB_ASSIGN(p.transforms, decodeTransforms(*t, "transforms"));
    OPTDB_ASSIGN(p.rev, req.rev(j, "rev"));
    if (const Json* pol = req.find("policy")) {
      auto policy = pol->is_string() ? parsePolicy(pol->get_ref<const std::string&>()) : std::nullopt;
      if (!policy) return Status::invalid("policy: must be \"c\", \"f\", \"r\" or \"w\"");
      p.policy = *policy;
    }
    if (const Json* to = req.find("timeout")) {
      if (!to->is_number() || !std::isfinite(to->get<double>()) || to->get<double>() < 0)
        return Status::invalid("timeout: must be a number of seconds, at least 0");
      p.timeoutSeconds = to->get<double>();
    }
    return answered(repo.pend(p));
  }
  if (name == "commit") {
    OPTDB_TRY(onlyMembers(j, "request", {"op", "id", "trxId", "blockIds", "rev"}));
    OPTDB_ASSIGN(auto trx, req.trxId());
    OPTDB_ASSIGN(auto ids, req.blockIds());
    OPTDB_ASSIGN(auto rev, req.rev(j, "rev"));
    if (!rev) return Status::invalid("rev is missing");
    return answered(repo.commit(trx, ids, *rev));
  }
  if (name == "cancel") {
    OPTDB_TRY(onlyMembers(j, "request", {"op", "id", "trxId", "blockIds"}));
    OPTDB_ASSIGN(auto trx, req.trxId());
    OPTDB_ASSIGN(auto ids, req.blockIds());
    return answered(repo.cancel(trx, ids));
  }
  if (name == "inspect") {
    OPTDB_TRY(onlyMembers(j, "request", {"op", "id", "blockIds"}));
    std::vector<BlockId> ids;
    if (req.find("blockIds")) {
      OPTDB_ASSIGN(ids, req.blockIds());
    }
    return answered(inspect(repo, std::move(ids)));
  }
  if (name == "flush") {
    OPTDB_TRY(onlyMembers(j, "request", {"op", "id"}));
    *flush = true;
    Json out = Json::object();
    out["exit"] = 0;
    out["result"] = Json{{"flushed", 0}};
    return out;
  }
  return Status::invalid(fmt::format("op: unknown operation \"{}\" (get, pend, commit, cancel, inspect, flush)", name));
}

}  // namespace

Json BatchSession::refusal(std::size_t lineNo, const Status& why) {
  Json response = Json::object();
  response["exit"] = static_cast<int>(why.code());
  response["error"] = fmt::format("line {}: {}", lineNo, why.message());
  return response;
}

BatchSession::BatchSession(Store& store, bool buffered) : store_(store), buffered_(buffered) {
  if (buffered_) store_.beginWindow();
}

void BatchSession::deliver(std::vector<BatchResponse>& window) {
  if (!buffered_) return;
  const Status s = store_.flushWindow();
  if (s) return;
  for (auto& r : window) {
    if (!r.wrote) continue;
    Json failed = Json::object();
    if (auto id = r.response.find("id"); id != r.response.end()) failed["id"] = *id;
    failed["exit"] = static_cast<int>(s.code());
    failed["error"] = fmt::format("not made durable: {}", s.message());
    r.response = std::move(failed);
    r.wrote = false;
  }
}

BatchResponse BatchSession::answer(std::string_view line, std::size_t lineNo) {
  BatchResponse out;
  Json response = Json::object();
  auto parsed = parseJson(line, fmt::format("line {}", lineNo), kTransformsEnvelope + 1);
  if (!parsed) {
    response["exit"] = static_cast<int>(Code::InvalidInput);
    response["error"] = parsed.status().message();
    out.response = std::move(response);
    return out;
  }
  const Json& j = *parsed;
  if (j.is_object()) {
    if (auto id = j.find("id"); id != j.end()) response["id"] = *id;
  }
  auto r = run(store_, j, &out.flush);
  Json answered = r ? std::move(r).value() : refusal(lineNo, r.status());
  if (auto op = j.find("op"); op != j.end() && op->is_string() && answered["exit"] == 0) {
    const auto& name = op->get_ref<const std::string&>();
    out.wrote = name == "pend" || name == "commit" || name == "cancel";
  }
  for (auto& [k, v] : answered.items()) response[k] = std::move(v);
  out.response = std::move(response);
  return out;
}

}  // namespace optdb
