package care

import "strings"

// NormalizeNHSNumber strips the spaces and hyphens people type into NHS numbers
// ("943 476 5919", "943-476-5919") and validates the result: ten digits whose
// tenth is the Modulus 11 check digit of the first nine. It returns the ten
// digits, or an EINVALID error that says what is wrong.
func NormalizeNHSNumber(s string) (string, error) {
	s = strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s))
	if len(s) != 10 {
		return "", Errorf(EINVALID, "NHS number must have 10 digits")
	}
	sum := 0
	for i := 0; i < 10; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return "", Errorf(EINVALID, "NHS number must contain only digits")
		}
		if i < 9 {
			sum += int(c-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	if check == 10 || check != int(s[9]-'0') {
		return "", Errorf(EINVALID, "NHS number check digit is wrong")
	}
	return s, nil
}
