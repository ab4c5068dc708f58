// Package sources is where audit events come from: -f inputs (files,
// directories, globs, stdin) in rotation order, decompression by content
// (gzip, zstd, bzip2; tar archives as their files; xz, lz4, zip and 7z are
// named, not read), node container logs (CRI, docker), and the parallel reader
// that splits inputs into chunks, decodes them on workers, counts each
// request once across its stages (the sequencer) and reports what it read
// and skipped (Stats, Problem).
//
// It imports only audit from this module; the node and bucket sources live
// in its subpackages.
package sources
