// The names of the two layout generations, trx and actions.
#include "optdb/dialect.hpp"

namespace optdb {

const DialectNames& namesOf(Dialect d) {
  static constexpr DialectNames kTrx{"trx", "trx", "trxId", "trx"};
  static constexpr DialectNames kActions{"actions", "actions", "actionId", "action"};
  return d == Dialect::Trx ? kTrx : kActions;
}

std::optional<Dialect> parseDialect(std::string_view name) {
  for (Dialect d : kDialects)
    if (name == namesOf(d).name) return d;
  return std::nullopt;
}

}  // namespace optdb
