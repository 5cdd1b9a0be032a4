//go:build race

package main

// raceEnabled says the test binary runs under the race detector; the smoke
// test then builds rapport with -race too, reusing the packages already
// compiled for the test and checking the real binary for races.
const raceEnabled = true
