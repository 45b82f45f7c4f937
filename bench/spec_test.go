package bench

import (
	"reflect"
	"strings"
	"testing"
)

func TestSpecArgsRoundTrip(t *testing.T) {
	s := FullConfig().Spec
	s.System, s.Lat = "raw-pipe", false
	got, extra, err := ParseSpec(append(s.Args(), "root=/repo", "transport=pipe"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
	}
	if extra["root"] != "/repo" || extra["transport"] != "pipe" || len(extra) != 2 {
		t.Fatalf("extra keys: %v", extra)
	}
}

func TestSpecArgsAreWhatEveryDriverReads(t *testing.T) {
	// The C, Node and Python drivers parse these keys by name: renaming one breaks them.
	var keys []string
	for _, a := range DefaultSpec("x").Args() {
		k, _, _ := strings.Cut(a, "=")
		keys = append(keys, k)
	}
	want := "system sizes warm_ms warm_max lat_ms lat_min lat_max tput_ms conc lat tput"
	if strings.Join(keys, " ") != want {
		t.Fatalf("keys %v, want %s", keys, want)
	}
}

func TestParseSpecErrorsNameTheArgument(t *testing.T) {
	cases := map[string]string{
		"novalue":      `"novalue" is not KEY=VALUE`,
		"sizes=16,abc": `"abc" is not a size`,
		"lat=yes":      "want 0 or 1",
		"lat_ms=-3":    "lat_ms=-3",
		"conc=0":       "at least 1",
	}
	for arg, want := range cases {
		_, _, err := ParseSpec([]string{arg})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSpec(%q) = %v, want an error containing %q", arg, err, want)
		}
	}
}
