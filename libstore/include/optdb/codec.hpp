// One JSON codec per model type: decoding validates shape and reports the path
// at fault; encoding writes members in the order SPEC.md shows them.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "optdb/json.hpp"
#include "optdb/model.hpp"

namespace optdb {

// An integer literal in 0 … 2^53−1.
Result<Rev> decodeRev(const Json& j, std::string_view where);

// {"trxId","rev"} or {"actionId","rev"}; `seen` receives the dialect whose
// name the id had. Without `revKey`, rev is required; with it, a missing rev
// is that (upstream v0.24's archives key revisions and leave rev out).
Result<TrxRev> decodeTrxRev(const Json& j, std::string_view where, Dialect* seen = nullptr,
                            std::optional<Rev> revKey = std::nullopt);
Json encodeTrxRev(const TrxRev& v, Dialect dialect = Dialect::Trx);

// A Block: an object whose header is {id, type, collectionId}, at most
// kMaxJsonDepth deep; `expectedId` when known.
Status validateBlock(const Json& j, std::string_view expectedId, std::string_view where);
// [entity, index, deleteCount, inserted] with integer index and deleteCount,
// `inserted` leaving the block at most kMaxJsonDepth deep.
Status validateOperation(const Json& j, std::string_view where);

// The levels each format adds around the data, for parseJson (SPEC §7:
// whatever archive writes, restore reads). The data lying deepest is an
// operation's `inserted`: a block's second level, at a Transform's fourth
// ({"updates":[[entity, index, deleteCount, inserted]]}), so a Transform adds
// two. The codecs above hold the data itself to kMaxJsonDepth.
constexpr int kTransformEnvelope = 2;
constexpr int kTransformsEnvelope = kTransformEnvelope + 1;  // {"updates":{id:[…]}}
// {"revisions":{rev:{"trx":{"transform":Transform}}}} and
// {"pending":{trxId:{"transforms":Transforms}}}; one more for an array of archives.
constexpr int kArchiveEnvelope = 4 + kTransformEnvelope;
static_assert(kArchiveEnvelope == 3 + kTransformsEnvelope);

Result<Transform> decodeTransform(const Json& j, const BlockId& blockId, std::string_view where);
Json encodeTransform(const Transform& t);

Result<Transforms> decodeTransforms(const Json& j, std::string_view where);
Json encodeTransforms(const Transforms& t);

Result<Ranges> decodeRanges(const Json& j, std::string_view where);
Json encodeRanges(const Ranges& r);

// The dialect is the one `latest` names its id in (trx when it has no latest).
Result<BlockMeta> decodeMeta(const Json& j, std::string_view where);
// Metadata read as far as it goes, for integrity's report on a damaged
// meta.json: no `meta` (and `why`) when it is no metadata at all; else the
// ranges that decode, with the entries that do not in `malformedRanges`.
struct MetaReading {
  std::optional<BlockMeta> meta;
  std::string why;
  std::vector<Json> malformedRanges;
};
MetaReading decodeMetaLeniently(const Json& j);
// {"ranges","latest"?}, latest in the meta's dialect.
Json encodeMeta(const BlockMeta& m);

// A commit intent {"trxId","rev","blockIds"}; decoding's Integrity names `where`.
Json encodeIntent(const CommitIntent& intent);
Result<CommitIntent> decodeIntent(std::string_view text, const std::string& where);

// What every codec's messages share, so that errors name the path at fault alike.
namespace codec {
std::string typeName(const Json& j);
// where["key"], with the key written as JSON.
std::string member(std::string_view where, std::string_view key);
// "<where>: must be <what>, got <type>" as InvalidInput.
Status expected(std::string_view where, std::string_view what, const Json& got);
Status onlyMembers(const Json& j, std::string_view where, std::initializer_list<std::string_view> allowed);
}  // namespace codec

}  // namespace optdb
