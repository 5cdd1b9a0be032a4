// Package bench holds Rapport's side-by-side benchmarks (its _test.go files,
// run by `make bench`): the five reads and writes of the speed goals measured
// against Rapport over HTTP, PostGraphile 5 (bench/postgraphile, an npm
// harness) over the same database, and a bare Go handler running one minimal
// SQL statement per request, in the same run, with the ratios and goals
// printed; and the sync push (sync_push_test.go) against plain batched and
// concurrent INSERTs into the same database. It holds no code of the product.
package bench
