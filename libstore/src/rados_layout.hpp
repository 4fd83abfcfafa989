// The object layout of a store in a RADOS pool (README "RADOS"): the one
// place that spells an object's name or an omap key. A namespace holds one
// store:
//
//   b.<blockId>               the block: omap "meta" (meta.json's text),
//                             "r.<rev, 16 digits>" -> trxId (the revision index),
//                             "<kind>.<trxId>" -> "<bytes> <ms since epoch>" (its
//                             items); the block's lock (cls_lock "optdb.block")
//   <kind>.<trxId>.<blockId>  an item: kind p (pending), t / a (committed, in the
//                             trx / actions dialect), m (materialization)
//   .optdb.store              omap "layout" (the store's dialect) and
//                             "intent.<trxId>" (commit intents); the store lock
//
// An item exists when its block's omap names it: an item object written
// before its key (an interrupted unit) is a leftover, never read.
#pragma once

#include <optional>
#include <string>

#include <fmt/format.h>

#include "optdb/dialect.hpp"
#include "optdb/model.hpp"
#include "optdb/store_scan.hpp"

namespace optdb::rados_layout {

inline constexpr const char* kStoreObject = ".optdb.store";
inline constexpr const char* kStoreLock = "optdb.store";
inline constexpr const char* kStoreLockTag = "optdb";  // what writers share
inline constexpr const char* kBlockLock = "optdb.block";
inline constexpr const char* kLayoutKey = "layout";
inline constexpr const char* kIntentPrefix = "intent.";
inline constexpr const char* kMetaKey = "meta";
inline constexpr const char* kRevPrefix = "r.";
inline constexpr const char* kBlockPrefix = "b.";

// An item's kind letter: p, t, a or m.
inline char kindLetter(ItemKind kind, Dialect dialect) {
  if (kind == ItemKind::Pending) return 'p';
  if (kind == ItemKind::Materialized) return 'm';
  return dialect == Dialect::Trx ? 't' : 'a';
}

inline std::string blockObject(const BlockId& id) { return kBlockPrefix + id; }
inline std::string revKey(Rev rev) { return fmt::format("{}{:016d}", kRevPrefix, rev); }
inline std::string itemPrefix(char kind) { return std::string(1, kind) + "."; }
inline std::string itemKey(char kind, const TrxId& trx) { return itemPrefix(kind) + trx; }
inline std::string itemObject(char kind, const TrxId& trx, const BlockId& id) {
  return itemKey(kind, trx) + "." + id;
}
inline std::string intentKey(const TrxId& trx) { return kIntentPrefix + trx; }

// Where a listing names an omap entry: "<object>#<key>".
inline std::string whereKey(const std::string& object, const std::string& key) { return object + "#" + key; }

// An item object's name taken apart (a TrxId holds no '.').
struct ItemName {
  char kind;
  TrxId trx;
  BlockId id;
};
inline std::optional<ItemName> parseItemObject(const std::string& name) {
  if (name.size() < 5 || name[1] != '.' || std::string("ptam").find(name[0]) == std::string::npos) return std::nullopt;
  const auto dot = name.find('.', 2);
  if (dot == std::string::npos || dot == 2 || dot + 1 == name.size()) return std::nullopt;
  return ItemName{name[0], name.substr(2, dot - 2), name.substr(dot + 1)};
}

}  // namespace optdb::rados_layout
