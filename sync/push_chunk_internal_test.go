package sync

import (
	"testing"

	"github.com/google/uuid"
)

// A push's transactions are bounded by the savepoints they take: a change
// judged alone counts one, a run of interaction CREATEs with distinct ids
// (one savepoint, set-based) counts one, and no transaction holds more than
// max changes.
func TestTxChunk(t *testing.T) {
	id := func() uuid.UUID { return uuid.New() }
	create := func(i uuid.UUID) ChangeInput { return ChangeInput{Entity: EntityInteraction, Op: OpCreate, ID: i} }
	edit := func(i uuid.UUID) ChangeInput { return ChangeInput{Entity: EntityInteraction, Op: OpUpdate, ID: i} }
	relationship := func(i uuid.UUID) ChangeInput { return ChangeInput{Entity: EntityCareRelationship, Op: OpCreate, ID: i} }
	creates := func(n int) []ChangeInput {
		var out []ChangeInput
		for range n {
			out = append(out, create(id()))
		}
		return out
	}
	edits := func(n int) []ChangeInput {
		var out []ChangeInput
		for range n {
			out = append(out, edit(id()))
		}
		return out
	}
	same := id()
	cases := []struct {
		name          string
		chs           []ChangeInput
		perChange, mx int
		want          []int
	}{
		{"500 creates: one transaction", creates(500), 50, 500, []int{500}},
		{"creates beyond max", creates(700), 50, 500, []int{500, 200}},
		{"edits: perChange each", edits(120), 50, 500, []int{50, 50, 20}},
		{"runs count one each", append(append(creates(100), edits(48)...), creates(100)...), 50, 500, []int{248}},
		{"a run past perChange units starts the next", append(append(creates(100), edits(49)...), creates(100)...), 50, 500, []int{149, 100}},
		{"an edit past perChange units starts the next", append(append(creates(100), edits(49)...), append(edits(1), creates(3)...)...), 50, 500, []int{149, 4}},
		{"the same id twice starts a new run", []ChangeInput{create(same), create(same), create(id())}, 1, 500, []int{1, 2}},
		{"other entities are judged alone", []ChangeInput{relationship(id()), relationship(id()), create(id())}, 2, 500, []int{2, 1}},
	}
	for _, c := range cases {
		var got []int
		for rest := c.chs; len(rest) > 0; {
			n := txChunk(rest, c.perChange, c.mx)
			if n < 1 {
				t.Fatalf("%s: empty chunk", c.name)
			}
			got, rest = append(got, n), rest[n:]
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: chunks %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: chunks %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}
