// The bytes of the write-ahead journal (.optdb/journal): a header line, then
// records appended one after another. A record is one unit of work (a
// commit, a pend, a repair): the final state of every file it changes, the
// locks its writer held, and a checksum, so that a torn or half-written
// record is told from a whole one and skipped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace optdb::journal {

// One change to the tree, as it is to be left: replaying an op any number
// of times leaves the same file.
struct Op {
  enum class Kind : std::uint8_t {
    Put = 1,      // the file holds `data` (created or replaced)
    Remove = 2,   // the file is gone
    Append = 3,   // the file holds what it held up to `offset`, then `data`
    MakeDir = 4,  // the directory exists
    RemoveDir = 5,
  };
  Kind kind = Kind::Put;
  std::string path;  // relative to the store's root
  std::string data;
  std::uint64_t offset = 0;
};

struct Record {
  std::uint64_t generation = 0;  // the journal's, at append (see Header)
  std::uint64_t nonce = 0;       // tells this record from another at the same offset
  std::vector<std::string> locks;  // lock files its writer held exclusively (markers)
  std::vector<Op> ops;
  // A unit of a flush window (batch --buffer) built on its writer's previous
  // unit, not yet flushed: replayed only after that one (nonce; 0: none).
  std::uint64_t after = 0;
};

// The journal's first line. `generation` grows at every trim, so that a
// marker or a hint left from before a trim is never taken for a current one;
// `bootId` is the machine's boot the records were written in: a journal of an
// earlier boot may hold records whose files a power cut took away.
struct Header {
  std::uint64_t generation = 0;
  std::string bootId;
};

std::string encodeHeader(const Header& h);
// The header and where the records start; nullopt when `bytes` does not start with one.
std::optional<std::pair<Header, std::size_t>> decodeHeader(std::string_view bytes);

std::string encodeRecord(const Record& r);

// A whole record found in the journal and where it lies.
struct Found {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  Record record;
};
// Every whole record of generation `generation` in `bytes` from `from` on, in
// order. A torn record (a writer killed in its append, a power cut) is
// skipped: the scan looks for the next record start after it.
std::vector<Found> scanRecords(std::string_view bytes, std::size_t from, std::uint64_t generation);
// The records of `found` that may be applied: a record built on one that is
// not there (torn, or lost before a flush) goes, and so do those built on it.
std::vector<Found> replayable(std::vector<Found> found);
// A record's magic, body length and checksum come first; from those bytes,
// the size of the whole record (nullopt: no record starts there).
inline constexpr std::size_t kRecordPrefix = 12;
std::optional<std::size_t> recordSize(std::string_view prefix);
// The record at exactly `offset` when one whole record of `generation` starts there.
std::optional<Record> recordAt(std::string_view bytes, std::uint64_t offset, std::uint64_t generation);

// What a lock file holds while its holder's record is being applied: the
// record's place, so that the next holder can finish a dead writer's work.
// In a flush window, the window's first record under the lock: those that
// follow it there (Record::after) are finished with it. Written once, and
// cleared (truncated) once all are applied: never rewritten in between, so
// no kill can leave half of it.
struct Marker {
  std::uint64_t generation = 0;
  std::uint64_t offset = 0;
  std::uint64_t nonce = 0;
};
std::string encodeMarker(const Marker& m);
std::optional<Marker> decodeMarker(std::string_view bytes);

// The records of `found` (replayable, in order) under `lock` whose marker
// there is `m`: the record it names, and the records of the same flush
// window after it under that lock. Empty when none is whole.
std::vector<const Found*> markedRecords(const std::vector<Found>& found, const std::string& lock, const Marker& m);

// The group flush's note of how much of the journal is known durable.
std::string encodeDurable(std::uint64_t generation, std::uint64_t end);
std::optional<std::pair<std::uint64_t, std::uint64_t>> decodeDurable(std::string_view bytes);

std::uint32_t crc32c(std::string_view bytes);

}  // namespace optdb::journal
