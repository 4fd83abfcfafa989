// The two generations of the Optimystic layout (SPEC §2): the names each one
// gives to committed transforms and to the transaction id, in files and in
// archives. The only place that spells them; every writer asks here.
#pragma once

#include <optional>
#include <string_view>

namespace optdb {

// trx: Optimystic 2025 (the seed). actions: Optimystic v0.24, which reads
// nothing else. One block never mixes them.
enum class Dialect { Trx, Actions };

struct DialectNames {
  const char* name;             // "trx" | "actions": --layout, settings.json, inspect
  const char* committedSubdir;  // trx/ | actions/
  const char* idMember;         // in meta.json latest and archives: trxId | actionId
  const char* revisionEntry;    // an archive revision's entry: trx | action
};

const DialectNames& namesOf(Dialect d);
// nullopt unless `name` is "trx" or "actions".
std::optional<Dialect> parseDialect(std::string_view name);
constexpr Dialect otherDialect(Dialect d) { return d == Dialect::Trx ? Dialect::Actions : Dialect::Trx; }
// Every dialect, for readers that accept both.
inline constexpr Dialect kDialects[] = {Dialect::Trx, Dialect::Actions};

}  // namespace optdb
