#!/usr/bin/env python3
# The archive streams the archive benches restore (bench/archive_bench.sh,
# bench/zstd_bench.sh), as NDJSON on stdout:
#   gen_archive.py wide BLOCKS REVS   BLOCKS blocks of ~3 KB, REVS revisions each
#                                     (updates of a few hundred bytes, the first
#                                     carrying `block`)
#   gen_archive.py long REVS CHUNK    one block of REVS revisions, CHUNK an archive
import sys, random
kind = sys.argv[1]
out = sys.stdout
rnd = random.Random(5)
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda omicron sigma omega".split()
def item(i, r):
    text = " ".join(rnd.choice(words) for _ in range(30))
    return ('{"sku":"SKU-%06d","qty":%d,"price":%d.%02d,"rev":%d,"tags":["%s","%s"],"note":"%s"}'
            % (i, r % 97, r % 1000, r % 100, r, rnd.choice(words), rnd.choice(words), text))
def block(bid, nitems):
    items = ",".join(item(i, 0) for i in range(nitems))
    return ('{"header":{"id":"%s","type":"order","collectionId":"orders"},"items":[%s],"n":0,"owner":"user-%s"}'
            % (bid, items, bid))
if kind == "wide":
    blocks, revs = int(sys.argv[2]), int(sys.argv[3])
    nitems = 8
    for b in range(blocks):
        bid = "blk%05d" % b
        parts = []
        for r in range(1, revs + 1):
            if r == 1:  # the insert, and the block it makes
                b0 = block(bid, nitems)
                parts.append('"1":{"trx":{"trxId":"%s-t1","rev":1,"transform":{"insert":%s}},"block":%s}'
                             % (bid, b0, b0))
            else:
                parts.append('"%d":{"trx":{"trxId":"%s-t%d","rev":%d,"transform":{"updates":[["items",%d,1,[%s]],["n",0,0,%d]]}}}'
                             % (r, bid, r, r, r % nitems, item(r % nitems, r), r))
        out.write('{"blockId":"%s","revisions":{%s},"range":[1]}\n' % (bid, ",".join(parts)))
else:
    revs, chunk = int(sys.argv[2]), int(sys.argv[3])
    bid, nitems = "long", 4
    short = lambda i, r: '{"sku":"SKU-%06d","rev":%d}' % (i, r)
    st = [short(i, 0) for i in range(nitems)]
    hdr = '{"header":{"id":"long","type":"order","collectionId":"orders"},"items":[%s],"n":%d}'
    for start in range(1, revs + 1, chunk):
        end = min(start + chunk, revs + 1)
        parts = []
        for r in range(start, end):
            if r == 1:
                tf = '{"insert":%s}' % (hdr % (",".join(st), 0))
            else:
                st[r % nitems] = short(r % nitems, r)
                tf = '{"updates":[["items",%d,1,[%s]],["n",0,0,%d]]}' % (r % nitems, st[r % nitems], r)
            p = '"%d":{"trx":{"trxId":"long-t%d","rev":%d,"transform":%s}' % (r, r, r, tf)
            if r == start:
                p += ',"block":%s' % (hdr % (",".join(st), 0 if r == 1 else r))
            parts.append(p + "}")
        rng = "[%d]" % start if end > revs else "[%d,%d]" % (start, end)
        out.write('{"blockId":"long","revisions":{%s},"range":%s}\n' % (",".join(parts), rng))
