package server

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/postgres"
)

// The public feedback page: GET /feedback/<token> shows the questionnaire a
// link asks for, POST /feedback/<token> stores the answers and redirects to
// /feedback/thanks. It is plain server-rendered HTML with one inline style
// sheet: no JavaScript, no external assets, large touch targets, every input
// labelled. It stores nothing about the respondent (no IP, no user agent, no
// cookie) and is never logged beyond the "other" route label.

// maxFeedbackForm bounds a submitted form.
const maxFeedbackForm = 64 << 10

// feedbackSigner returns the signer for feedback links: cfg.FeedbackSecret,
// else one derived from the JWT HMAC secret (development), else nil
// (feedback links disabled).
func feedbackSigner(cfg Config) *feedback.Signer {
	secret := cfg.FeedbackSecret
	if len(secret) == 0 && len(cfg.JWT.HMACSecret) > 0 {
		secret = feedback.DeriveSecret(cfg.JWT.HMACSecret)
	}
	if len(secret) == 0 {
		return nil
	}
	s, err := feedback.NewSigner(secret)
	if err != nil {
		return nil
	}
	return s
}

// feedbackHandler serves the feedback page with db and signer (nil: every
// link is refused as not enabled).
func feedbackHandler(db *postgres.DB, signer *feedback.Signer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securePageHeaders(w)
		token := strings.TrimPrefix(r.URL.Path, "/feedback/")
		if token == "thanks" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			renderPage(w, http.StatusOK, pageData{Title: "Thank you", Thanks: true})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, HEAD, POST")
			renderMessage(w, http.StatusMethodNotAllowed, "Not available", "This page can only be opened or submitted.")
			return
		}
		if signer == nil || db == nil {
			renderMessage(w, http.StatusNotFound, "Feedback is not available", "Feedback links are not enabled on this service.")
			return
		}
		claims, err := signer.Verify(token)
		if err != nil {
			refuse(w, r, err)
			return
		}
		info, err := db.FeedbackLinkStatus(r.Context(), claims)
		if err != nil {
			refuse(w, r, err)
			return
		}
		data := pageData{Title: "Your feedback", Token: token, Claims: claims, Info: info,
			Subject: string(claims.SubjectKind) + ":" + claims.SubjectID.String(), Respondent: "patient"}
		if r.Method != http.MethodPost {
			renderPage(w, http.StatusOK, data)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFeedbackForm)
		if err := r.ParseForm(); err != nil {
			renderMessage(w, http.StatusBadRequest, "Something went wrong", "Your answers could not be read. Please go back and try again.")
			return
		}
		sub, bad := submissionFromForm(r, claims, info)
		data.Form, data.Respondent = r.PostForm, string(sub.Respondent)
		if bad != "" {
			data.Error = bad
			renderPage(w, http.StatusUnprocessableEntity, data)
			return
		}
		if _, err := db.SubmitLinkedFeedback(r.Context(), claims, sub); err != nil {
			if care.ErrorCode(err) == care.EINVALID {
				data.Error = care.ErrorMessage(err)
				renderPage(w, http.StatusUnprocessableEntity, data)
				return
			}
			refuse(w, r, err)
			return
		}
		http.Redirect(w, r, "/feedback/thanks", http.StatusSeeOther)
	})
}

// refuse shows why a link cannot be used, with a 4xx status (500 for our faults).
func refuse(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, feedback.ErrLinkTampered):
		renderMessage(w, http.StatusBadRequest, "This link does not work", care.ErrorMessage(err))
	case errors.Is(err, feedback.ErrLinkExpired):
		renderMessage(w, http.StatusGone, "This link has expired", care.ErrorMessage(err))
	case errors.Is(err, feedback.ErrLinkUsed):
		renderMessage(w, http.StatusConflict, "This link has been used", care.ErrorMessage(err))
	case errors.Is(err, feedback.ErrLinkWrongSubject):
		renderMessage(w, http.StatusForbidden, "This link is for something else", care.ErrorMessage(err))
	case care.ErrorCode(err) == care.ENOTFOUND:
		renderMessage(w, http.StatusNotFound, "This link does not work", "What this link asks about no longer exists. Thank you for wanting to help.")
	default:
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("feedback page")
		renderMessage(w, http.StatusInternalServerError, "Something went wrong", "Please try again later.")
	}
}

// submissionFromForm reads the form into a submission; the second result
// is a message for the respondent when the form is incomplete.
func submissionFromForm(r *http.Request, c *feedback.LinkClaims, info *postgres.FeedbackLinkPage) (feedback.Submission, string) {
	f := r.PostForm
	s := feedback.Submission{Instrument: c.Instrument, Respondent: feedback.RespondentPatient, FreeText: f.Get("comment")}
	if f.Get("respondent") == "carer" {
		s.Respondent = feedback.RespondentCarer
	}
	kind, id, _ := strings.Cut(f.Get("subject"), ":")
	s.SubjectKind = feedback.SubjectKind(kind)
	s.SubjectID, _ = uuid.Parse(id)
	switch c.Instrument {
	case feedback.InstrumentCARE:
		s.CARERatings = make([]int, feedback.CAREItemCount)
		for i := range s.CARERatings {
			v := f.Get("care" + strconv.Itoa(i+1))
			if v == "" {
				continue // missing counts as does not apply
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 5 {
				return s, "Please choose one of the answers for each statement."
			}
			s.CARERatings[i] = n
		}
	case feedback.InstrumentFFT:
		a := feedback.FFTAnswer(f.Get("fft"))
		if !a.Valid() {
			return s, "Please choose an answer to the question."
		}
		s.FFT = &a
	case feedback.InstrumentQuestionnaire:
		if info.Questionnaire == nil {
			return s, "This questionnaire is not available."
		}
		for _, q := range info.Questionnaire.Questions {
			v := strings.TrimSpace(f.Get("q_" + q.Key))
			if v == "" {
				continue
			}
			a := feedback.Answer{Key: q.Key}
			switch q.Kind {
			case feedback.QuestionRating:
				n, err := strconv.Atoi(v)
				if err != nil {
					return s, "Please choose a rating."
				}
				a.Rating = &n
			case feedback.QuestionYesNo:
				yes := v == "yes"
				a.Yes = &yes
			case feedback.QuestionSingleChoice:
				a.Choice = &v
			case feedback.QuestionFreeText:
				a.Text = &v
			}
			s.Answers = append(s.Answers, a)
		}
	}
	return s, ""
}

// securePageHeaders sets the headers every feedback page carries: no
// caching, no referrer (the URL holds the token), no framing, nothing loaded
// but the page's own inline style sheet.
func securePageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src '"+styleHash+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

// pageData is what the page template renders.
type pageData struct {
	Title      string
	Thanks     bool
	Message    string
	Token      string
	Subject    string
	Respondent string
	Claims     *feedback.LinkClaims
	Info       *postgres.FeedbackLinkPage
	Form       map[string][]string
	Error      string
}

// Checked reports whether the submitted form had value for name (to keep
// answers when the page is shown again).
func (d pageData) Checked(name, value string) bool {
	for _, v := range d.Form[name] {
		if v == value {
			return true
		}
	}
	return false
}

// Value returns the submitted value of name.
func (d pageData) Value(name string) string {
	if vs := d.Form[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func renderMessage(w http.ResponseWriter, status int, title, msg string) {
	renderPage(w, status, pageData{Title: title, Message: msg})
}

func renderPage(w http.ResponseWriter, status int, d pageData) {
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

const pageCSS = `
*{box-sizing:border-box}
body{margin:0;font:1.125rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#0b0c0c;background:#f3f2f1}
main{max-width:40rem;margin:0 auto;padding:1rem;background:#fff;min-height:100vh}
h1{font-size:1.75rem;line-height:1.2;margin:.5rem 0 1rem}
p{margin:0 0 1rem}
fieldset{border:0;border-top:1px solid #b1b4b6;margin:0 0 1.25rem;padding:1rem 0 0}
legend{font-weight:700;padding:0;margin-bottom:.5rem}
legend .hint{display:block;font-weight:400;color:#505a5f;font-size:1rem}
.opt{display:block;position:relative;margin:0 0 .5rem}
.opt input{position:absolute;left:0;top:0;width:3rem;height:3rem;margin:0;opacity:0;cursor:pointer}
.opt label{display:flex;align-items:center;min-height:3rem;padding:.5rem .75rem .5rem 3.5rem;border:2px solid #0b0c0c;border-radius:.25rem;cursor:pointer}
.opt label::before{content:"";position:absolute;left:.6rem;top:.6rem;width:1.8rem;height:1.8rem;border:2px solid #0b0c0c;border-radius:50%;background:#fff}
.opt input:checked+label{background:#e8f1f8;border-color:#1d70b8}
.opt input:checked+label::after{content:"";position:absolute;left:1.1rem;top:1.1rem;width:.8rem;height:.8rem;border-radius:50%;background:#0b0c0c}
.opt input:focus+label{outline:3px solid #ffdd00;outline-offset:0;box-shadow:0 0 0 6px #0b0c0c}
.scale{display:grid;grid-template-columns:1fr 1fr;gap:.5rem}
.scale .opt{margin:0}
.scale .na{grid-column:1/-1}
label.block{display:block;font-weight:700;margin-bottom:.5rem}
textarea{width:100%;min-height:7rem;font:inherit;padding:.5rem;border:2px solid #0b0c0c;border-radius:0}
textarea:focus{outline:3px solid #ffdd00;box-shadow:inset 0 0 0 2px #0b0c0c}
button{display:block;width:100%;min-height:3.25rem;font:inherit;font-weight:700;color:#fff;background:#00703c;border:0;border-bottom:3px solid #002d18;border-radius:.25rem;cursor:pointer;margin:1.5rem 0}
button:focus{outline:3px solid #ffdd00;outline-offset:0;background:#ffdd00;color:#0b0c0c}
.error{border-left:5px solid #d4351c;padding:.75rem 1rem;margin-bottom:1rem;color:#0b0c0c;background:#fff}
.error strong{color:#d4351c}
.note{color:#505a5f;font-size:1rem}
@media (min-width:36em){.scale{grid-template-columns:repeat(5,1fr)}.scale .opt label{padding:3.4rem .25rem .5rem;justify-content:center;text-align:center}.scale .opt label::before{left:calc(50% - .9rem)}.scale .opt input:checked+label::after{left:calc(50% - .4rem)}.scale .opt input{left:calc(50% - 1.5rem)}}
`

var styleHash = func() string {
	h := sha256.Sum256([]byte(pageCSS))
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}()

// careItem is one CARE Measure item as the page shows it.
type careItem struct {
	N     int
	Title string
	Hint  string
}

var careItems = func() []careItem {
	out := make([]careItem, len(feedback.CAREItems))
	for i, s := range feedback.CAREItems {
		title, hint, _ := strings.Cut(s, " (")
		out[i] = careItem{N: i + 1, Title: title, Hint: strings.TrimSuffix(hint, ")")}
	}
	return out
}()

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"careItems":   func() []careItem { return careItems },
	"careLabels":  func() [6]string { return feedback.CARERatingLabels },
	"fftAnswers":  func() []feedback.FFTAnswer { return feedback.FFTAnswers },
	"fftQuestion": func() string { return feedback.FFTQuestion },
	"css":         func() template.CSS { return template.CSS(pageCSS) },
	"str":         toString,
	"itoa":        strconv.Itoa,
	"seq": func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i + 1
		}
		return out
	},
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} – Rapport</title>
<style>{{css}}</style>
</head>
<body>
<main>
{{- if .Thanks}}
<h1>Thank you</h1>
<p>Your feedback has been received. It does not include your name, and it helps the team improve the care they give.</p>
<p>You can now close this page.</p>
{{- else if .Message}}
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{- else}}
<h1>Tell us about your care</h1>
<p>{{if .Info.PractitionerName}}This is about your care from <strong>{{.Info.PractitionerName}}</strong>.{{else if .Info.TeamName}}This is about your care from <strong>{{.Info.TeamName}}</strong>.{{end}}
It takes about two minutes. You do not need to give your name, and nothing you enter here is linked to you.</p>
{{- if .Error}}
<div class="error" role="alert" id="error"><strong>There is a problem:</strong> {{.Error}}</div>
{{- end}}
<form method="post" action="/feedback/{{.Token}}" novalidate>
<input type="hidden" name="subject" value="{{.Subject}}">
<fieldset>
<legend>Who is answering?</legend>
<div class="opt"><input type="radio" id="resp-patient" name="respondent" value="patient"{{if ne .Respondent "carer"}} checked{{end}}><label for="resp-patient">I am the patient</label></div>
<div class="opt"><input type="radio" id="resp-carer" name="respondent" value="carer"{{if eq .Respondent "carer"}} checked{{end}}><label for="resp-carer">I am a carer or family member</label></div>
</fieldset>
{{- if eq (str .Claims.Instrument) "care_measure"}}
<p><strong>{{if .Info.PractitionerName}}How was {{.Info.PractitionerName}} at…{{else}}How was the practitioner at…{{end}}</strong> Please rate each statement. Choose “Does not apply” if it does not.</p>
{{- $d := .}}
{{- range careItems}}{{$n := itoa .N}}
<fieldset>
<legend>{{.N}}. {{.Title}}<span class="hint">{{.Hint}}</span></legend>
<div class="scale">
{{- range $v := seq 5}}{{$val := itoa $v}}
<div class="opt"><input type="radio" id="care{{$n}}-{{$val}}" name="care{{$n}}" value="{{$val}}"{{if $d.Checked (print "care" $n) $val}} checked{{end}}><label for="care{{$n}}-{{$val}}">{{index careLabels $v}}</label></div>
{{- end}}
<div class="opt na"><input type="radio" id="care{{$n}}-0" name="care{{$n}}" value="0"{{if $d.Checked (print "care" $n) "0"}} checked{{end}}><label for="care{{$n}}-0">Does not apply</label></div>
</div>
</fieldset>
{{- end}}
{{- else if eq (str .Claims.Instrument) "fft"}}
{{- $d := .}}
<fieldset>
<legend>{{fftQuestion}}</legend>
{{- range fftAnswers}}
<div class="opt"><input type="radio" id="fft-{{.}}" name="fft" value="{{.}}"{{if $d.Checked "fft" (str .)}} checked{{end}}><label for="fft-{{.}}">{{.Label}}</label></div>
{{- end}}
</fieldset>
{{- else if .Info.Questionnaire}}
{{- $d := .}}
<h2>{{.Info.Questionnaire.Title}}</h2>
{{- range .Info.Questionnaire.Questions}}{{$name := print "q_" .Key}}
{{- if eq (str .Kind) "free_text"}}
<div><label class="block" for="{{$name}}">{{.Text}}{{if not .Required}} (optional){{end}}</label>
<textarea id="{{$name}}" name="{{$name}}" maxlength="4000">{{$d.Value $name}}</textarea></div>
{{- else}}
<fieldset>
<legend>{{.Text}}{{if not .Required}} <span class="hint">Optional</span>{{end}}</legend>
{{- if eq (str .Kind) "yes_no"}}
<div class="opt"><input type="radio" id="{{$name}}-yes" name="{{$name}}" value="yes"{{if $d.Checked $name "yes"}} checked{{end}}><label for="{{$name}}-yes">Yes</label></div>
<div class="opt"><input type="radio" id="{{$name}}-no" name="{{$name}}" value="no"{{if $d.Checked $name "no"}} checked{{end}}><label for="{{$name}}-no">No</label></div>
{{- else if eq (str .Kind) "rating"}}
<div class="scale">{{range $v := seq .ScaleMax}}{{$val := itoa $v}}
<div class="opt"><input type="radio" id="{{$name}}-{{$val}}" name="{{$name}}" value="{{$val}}"{{if $d.Checked $name $val}} checked{{end}}><label for="{{$name}}-{{$val}}">{{$val}}</label></div>{{end}}
</div>
{{- else}}
{{- range $i, $o := .Options}}
<div class="opt"><input type="radio" id="{{$name}}-{{$i}}" name="{{$name}}" value="{{$o}}"{{if $d.Checked $name $o}} checked{{end}}><label for="{{$name}}-{{$i}}">{{$o}}</label></div>
{{- end}}
{{- end}}
</fieldset>
{{- end}}
{{- end}}
{{- end}}
<div><label class="block" for="comment">Anything else you would like to tell us? (optional)</label>
<p class="note" id="comment-hint">Please do not include names or other personal details.</p>
<textarea id="comment" name="comment" maxlength="4000" aria-describedby="comment-hint">{{.Value "comment"}}</textarea></div>
<button type="submit">Send feedback</button>
</form>
{{- end}}
</main>
</body>
</html>
`))

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case interface{ String() string }:
		return x.String()
	case feedback.Instrument:
		return string(x)
	case feedback.QuestionKind:
		return string(x)
	case feedback.FFTAnswer:
		return string(x)
	}
	return ""
}
