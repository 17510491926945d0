"""Buckets `perf script -F comm,tid,ip,sym` samples of a `restore-sim restore` run: generation vs
restore, and within the restore RocksDB / hashing (by caller) / memory / other.
Usage: python3 docs/perf-classify.py perf.script"""
import sys, collections
samples=[]; cur=None
for line in open(sys.argv[1] if len(sys.argv) > 1 else 'perf.script'):
    if not line.strip():
        if cur: samples.append(cur); cur=None
        continue
    if not line.startswith((' ','\t')):
        if cur: samples.append(cur)
        cur={'comm':line.split()[0],'frames':[]}
    else:
        parts=line.strip().split(None,1)
        cur['frames'].append(parts[1] if len(parts)>1 else '')
if cur: samples.append(cur)
tot=len(samples)
cat=collections.Counter(); sub=collections.Counter()
for s in samples:
    fr=s['frames']; stack=' | '.join(fr)
    if 'PreparedSnapshot::generate' in stack or 'Snapshot>::generate' in stack:
        cat['generate (not restore)']+=1; continue
    if s['comm'].startswith('rocksdb'):
        cat['restore']+=1; sub['rocksdb background flush/compaction']+=1; continue
    cat['restore']+=1
    leaf=fr[0] if fr else ''
    hashing = any(('keccak' in f or 'sha3::' in f or 'Sha3' in f) for f in fr[:12])
    if hashing:
        if 'value_hash' in stack: sub['hash: value hash (SHA3 of value bytes)']+=1
        elif 'HashScheme::leaf' in stack: sub['hash: leaf']+=1
        elif 'HashScheme::internal' in stack: sub['hash: internal (node + proof)']+=1
        else: sub['hash: other']+=1
    elif 'rocksdb::' in stack or 'write_kv_batch' in stack or 'write_node_shard' in stack:
        sub['rocksdb write path (foreground, incl. encode/memtable/WAL)']+=1
    elif any(k in leaf for k in ('malloc','free','memmove','memcpy','cfree','_int_','unlink_chunk','clear_page','page_fault')):
        sub['memory: alloc/free/copy/page faults']+=1
    else:
        sub['other: '+leaf[:60]]+=1
print('total samples',tot)
for k,v in cat.most_common(): print(f'{100*v/tot:6.1f}% {k}')
r=cat['restore']
print('--- within restore (% of restore samples) ---')
for k,v in sub.most_common(25): print(f'{100*v/r:6.1f}% {k}')
