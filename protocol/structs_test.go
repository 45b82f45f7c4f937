package protocol

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type described struct {
	Mean   float64 `json:"mean"`
	Stddev float64 `msgpack:"sd" json:"stddev"`
	Count  int
	Label  string `json:"-"`
	Nested *inner `json:"nested"`
	Items  []inner
	ByName map[string]inner `json:"by_name"`
}

type inner struct {
	X  int `json:"x"`
	At time.Time
}

type embeds struct {
	inner
	Y int `json:"y"`
}

func TestUnmarshalFillsStructsByTagThenJSONThenName(t *testing.T) {
	at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	b, err := Marshal(map[string]any{
		"mean": 1.5, "sd": 0.5, "stddev": 9.9, "count": 3, "Label": "ignored", "extra": true,
		"nested":  map[string]any{"x": 7, "at": at},
		"Items":   []any{map[string]any{"X": 1}, map[string]any{"x": 2}},
		"by_name": map[string]any{"a": map[string]any{"x": 5}},
	})
	require.NoError(t, err)
	var d described
	require.NoError(t, Unmarshal(b, &d))
	assert.Equal(t, 1.5, d.Mean, "json tag")
	assert.Equal(t, 0.5, d.Stddev, "the msgpack tag wins over the json tag")
	assert.Equal(t, 3, d.Count, "the field name, up to case")
	assert.Empty(t, d.Label, `json:"-" is skipped`)
	require.NotNil(t, d.Nested)
	assert.Equal(t, 7, d.Nested.X)
	assert.True(t, at.Equal(d.Nested.At), "time.Time decodes as the library does")
	assert.Equal(t, []inner{{X: 1}, {X: 2}}, d.Items)
	assert.Equal(t, map[string]inner{"a": {X: 5}}, d.ByName)

	var e embeds
	b, _ = Marshal(map[string]any{"x": 1, "y": 2})
	require.NoError(t, Unmarshal(b, &e))
	assert.Equal(t, embeds{inner: inner{X: 1}, Y: 2}, e, "embedded structs are flattened")
}

func TestUnmarshalNeverLeavesAStructSilentlyZero(t *testing.T) {
	b, _ := Marshal(map[string]any{"average": 1.5, "deviation": 2})
	var d described
	err := Unmarshal(b, &d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `none of the keys "average", "deviation" matches a field of protocol.described`)
	assert.Contains(t, err.Error(), "mean")

	b, _ = Marshal([]any{1, 2})
	err = Unmarshal(b, &d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot decode an array into struct protocol.described")

	b, _ = Marshal(map[string]any{"mean": "not a number"})
	err = Unmarshal(b, &d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the value.Mean")

	b, _ = Marshal(map[string]any{})
	require.NoError(t, Unmarshal(b, &d), "an empty map is an empty struct, not an error")
	b, _ = Marshal(nil)
	require.NoError(t, Unmarshal(b, &d))
}

func TestMarshalNamesStructFieldsLikeJSON(t *testing.T) {
	b, err := Marshal(described{Mean: 1, Count: 2})
	require.NoError(t, err)
	v, err := DecodeValue(b)
	require.NoError(t, err)
	m := v.(map[string]any)
	assert.Contains(t, m, "mean")
	assert.Contains(t, m, "sd")
	assert.Contains(t, m, "Count")
	assert.NotContains(t, m, "Label")
}
