"""What a user says about how to be answered, what they aim at, feel and already know.

Rules on the sentence text (the first person, or an imperative addressed to the assistant), for
recalld.extraction.attributes:

* instructions to the assistant: ``response_format`` ("always reply in Markdown", "keep answers
  short"), ``response_language`` ("answer in Spanish"), ``response_tone`` ("be more formal"),
  ``avoid`` ("don't use emojis", "never mention my weight"), and any other standing request
  (``instructions``: "always cite your sources");
* ``goals`` ("I'm trying to gain muscle", "my goal is to run a marathon");
* ``symptoms`` with their duration or onset when said ("headaches (for three months)") and
  ``injuries`` ("knee injury", "sprained ankle");
* ``mastered``: what the user already knows ("I already know basic Python", "I'm fluent in
  French"); ``upcoming_exam`` and ``difficulties`` in the ways students say them;
* ``medications`` from how they are mentioned: taken, on, prescribed, a dose or a schedule, not
  only from a list of names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from spacy.tokens import Span


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


LANGUAGES = _words(
    """
    arabic bengali bulgarian cantonese catalan chinese croatian czech danish dutch english esperanto
    farsi finnish french german greek hebrew hindi hungarian indonesian irish italian japanese korean
    latin malay mandarin norwegian persian polish portuguese punjabi romanian russian serbian slovak
    spanish swahili swedish tagalog tamil thai turkish ukrainian urdu vietnamese welsh
    """
)
_FORMAT = re.compile(
    r"\b(markdown|bullet(?:ed)?(?: points?| lists?)?|numbered(?: lists?| steps?)?|tables?|json|code blocks?|"
    r"plain text|plain|headings?|headers|short(?:er)?(?: (?:answers?|replies|responses|paragraphs))?|brief|concise|"
    r"one paragraph|detailed|long(?:er)?|"
    r"step[- ]by[- ]step|summar(?:y|ies)|tl;?dr|lists?|emojis?|latex|outline|examples?)\b",
    re.IGNORECASE,
)
_TONE = re.compile(
    r"\b(formal|informal|casual|friendl(?:y|ier)|professional|encouraging|gentler?|polite|warm(?:er)?|blunt(?:er)?|"
    r"direct|simpler?|"
    r"plain language|patient|supportive|kind|serious|funny|humou?rous|playful|calm|neutral|respectful|honest|"
    r"straightforward|cheerful|empathetic|sarcastic|enthusiastic|relaxed|strict)\b",
    re.IGNORECASE,
)
_TO_ASSISTANT = re.compile(
    r"^\s*(?:please|pls|always|never|don'?t|do not|stop|avoid|remember|from now on|going forward|in future|"
    r"next time|keep|use|write|reply|respond|answer|talk|speak|call me|address me|be|give|explain|remind|"
    r"make sure|refer to me|no more)\b|\b(?:i (?:want|need|'d like|would like|prefer) (?:you|your|answers|replies|"
    r"responses|explanations)|(?:can|could|would) you (?:always|please|try)|you should (?:always|never)|"
    r"(?:your )?(?:answers|replies|responses|explanations) (?:should|must|need to)|i'?d rather you|"
    r"i prefer (?:it )?when you|i (?:prefer|like|want|need) [\w ]*\b(?:when|if) you|talk to me|speak to me|"
    r"write to me)\b",
    re.IGNORECASE,
)
_AVOID = re.compile(
    r"\b(?:don'?t|do not|never|avoid|stop|please no|no more|no)\s+(?:ever\s+)?(?:(?:us(?:e|ing)|mention(?:ing)?|"
    r"bring(?:ing)? up|talk(?:ing)? about|discuss(?:ing)?|giv(?:e|ing)|send(?:ing)?|suggest(?:ing)?|recommend(?:ing)?|"
    r"call(?:ing)? me|add(?:ing)?|includ(?:e|ing)|ask(?:ing)? about)\s+"
    r"(?:me\s+|us\s+)?)?"
    r"(?P<what>[\w' -]{2,60}?)\s*[,;]?\s*(?:\b(?:in|when|to|with (?:me|us)|again|anymore|any more|please|ever)\b.*)?"
    r"[.!?]?$",
    re.IGNORECASE,
)
_GOAL = re.compile(
    r"\b(?:i'?m|i am)\s+(?:trying|aiming|hoping|working|planning|training|saving up|studying)\s+(?:hard\s+)?"
    r"(?:to|for|towards?|on)\s+(?P<a>[^.!?;]+)|\bmy (?:main |big |biggest |long-term |new )?(?:goal|aim|"
    r"resolution|target|dream|plan)(?: for [\w ]+| this year)? is (?:to )?(?P<b>[^.!?;]+)|"
    r"\bi(?:'d| would)? ?(?:want|hope|plan|intend|aim|like|wanna|need) to (?P<c>(?:lose|gain|get|run|pass|learn|"
    r"improve|become|build|save|finish|quit|reduce|lower|sleep|eat|read|write|start|complete|master|reach|"
    r"be able|speak|drink|walk|"
    r"cut|stop|find|apply|land|buy|climb|swim|play|travel|visit|move|make|qualify|score|afford|retire|pay|own|"
    r"raise|open|launch|get back|go back)[^.!?;]*)",
    re.IGNORECASE,
)
SYMPTOMS = (
    r"(?:head|stomach|tooth|back|ear|belly)aches?|migraines?|coughs?|coughing|fevers?|nausea|nauseous|dizziness|"
    r"dizzy spells?|dizzy|vertigo|fatigue|exhaustion|chills|sore throats?|runny nose|stuffy nose|congestion|"
    r"sneezing|rash(?:es)?|hives|itching|itchy \w+|(?:\w+ )?pains?|cramps?|cramping|heartburn|acid reflux|"
    r"shortness of breath|breathlessness|wheezing|palpitations|vomiting|diarrh?o?ea|constipation|bloating|numbness|"
    r"tingling|swelling|swollen \w+|blurr?(?:ed|y) vision|ringing in (?:my|the) ears|tinnitus|night sweats|"
    r"hot flashes|insomnia|trouble sleeping|nosebleeds?|muscle aches?|joint pain|stiffness|weakness|tiredness"
)
_SYMPTOM = re.compile(
    rf"\b(?:i(?:'ve| have)? (?:had|been having|got|have|get|getting|keep getting|'ve got|have got|am having|'m having|"
    rf"feel|feeling|am feeling|'m feeling|experience|experiencing|am experiencing|'m experiencing|suffer from|"
    rf"woke up with|wake up with|waking up with|been waking up with|started having|developed|noticed)|i'?m|i am|been|"
    rf"(?:i've |i have )?been waking up with) (?:a |an |some |really |bad |terrible |low |high |slight |little |"
    rf"nasty |horrible |"
    rf"constant |frequent |mild |severe |occasional |chronic |persistent |recurring |this |these |a lot of |"
    rf"lots of |awful |strong |sharp |dull )*(?P<s>{SYMPTOMS})\b(?P<rest>[^.!?;]*)",
    re.IGNORECASE,
)
_HURTS = re.compile(
    r"\bmy (?P<part>[a-z]+(?: [a-z]+)?)(?:'s| (?:is|has|have|are)|) ?(?:hurts?|aches?|is sore|are sore|"
    r"is killing me|are killing me|(?:been )?(?:hurting|aching|killing me|playing up|acting up|sore|scratchy|"
    r"swollen|stiff|throbbing|itchy|numb|tight|raw))\b",
    re.I,
)
BODY_PARTS = _words(
    """
    back neck head knee knees shoulder shoulders hip hips ankle ankles wrist wrists elbow elbows foot feet hand
    hands arm arms leg legs chest stomach tummy belly throat ear ears eye eyes tooth teeth jaw gums joints
    muscles skin spine hamstring calf calves thigh thighs heel toe toes finger fingers thumb sinuses bladder
    side ribs pelvis groin tongue lips nose glands
    """
)
_DURATION = re.compile(
    r"\b(?:for (?:the (?:last|past) )?(?:a |an |about |around |almost |over |nearly )?(?:\w+ )?(?:days?|weeks?|"
    r"months?|years?|hours?)|since [\w ]+?(?=$|[,.;!?])|(?:\w+ )?(?:days?|weeks?|months?|years?) ago|this "
    r"(?:morning|week|month)|yesterday|last (?:night|week|month))",
    re.IGNORECASE,
)
_INJURY = re.compile(
    r"\b(?P<a>(?:sprained|broken|broke|fractured|torn|tore|twisted|pulled|dislocated|bruised|strained|injured|"
    r"hurt|cracked|jammed)\s+(?!(?:up|down|out|off|in|into|through|even|free|away|with|it|that|this|the news)\b)"
    r"(?:my\s+|a\s+|the\s+)?(?:left\s+|right\s+)?[a-z]+(?:\s(?:ligament|muscle|tendon|"
    r"bone|disc))?)|(?P<b>(?:[a-z]+\s+)?(?:injury|injuries|fracture|sprain|strain|concussion|whiplash|"
    r"tendinitis|tendonitis|torn acl|acl tear|dislocation|hernia|herniated disc|slipped disc))\b",
    re.IGNORECASE,
)
_MASTERED = re.compile(
    r"\bi (?:already |now |really )?know (?:how to )?(?P<a>[^.!?;,]+)|\bi'?m (?:already )?(?:fluent|proficient|"
    r"comfortable|confident|experienced|good|great|skilled|advanced) (?:in|at|with)\s+(?P<b>[^.!?;,]+)|\bi(?:'ve| "
    r"have)? (?:already )?(?:mastered|learned|learnt|finished|completed|passed|covered|done)\s+(?P<c>[^.!?;,]+)|"
    r"\bi can (?:already |now |finally )?(?:speak|read|write|code in|program in|play|use|solve)\s+(?P<d>[^.!?;,]+)|"
    r"\bi can (?:already |now |finally )?(?P<h>(?:conjugate|recite|touch[- ]type|type|swim|drive|cook|knit|sew|ski|"
    r"skate|surf|dance|sing|juggle|draw|paint)\b[^.!?;,]*)|"
    r"\bi(?:'ve| have)? (?:finally |now |already )?(?:nailed|cracked|got the hang of|got to grips with)\s+"
    r"(?P<f>[^.!?;,]+)|\bi(?:'ve| have)? got (?P<g>(?:the |my )?[\w -]{2,30}?) down\b|"
    r"\bi(?:'ve| have) (?:a|my) (?:degree|certificate|certification|diploma|black belt) in\s+(?P<e>[^.!?;,]+)",
    re.IGNORECASE,
)
EXAM_WORDS = (
    r"exams?|tests?|quiz(?:zes)?|finals|final|midterms?|interview|orals?|assessment|presentation|defen[cs]e|"
    r"mocks?|sat|act|gre|gmat|mcat|lsat|ielts|toefl|driving test|boards|bar exam"
)
_HAVE_EXAM = re.compile(
    rf"\bi(?:\s+have|'ve got|\s+have got|\s+got|'ll have|\s+will have|\s+am taking|'m taking|\s+take|\s+sit|"
    rf"\s+am sitting|'m sitting) "
    rf"(?:a|an|my|the|two|three|some)\s+(?P<what>(?:[\w\-]+\s+){{0,3}}?(?:{EXAM_WORDS}))\b(?P<when>[^.!?;]*)",
    re.IGNORECASE,
)
_DIFFICULTY = re.compile(
    r"\bi (?:keep|always|often) (?:making|make|get(?:ting)?|mess(?:ing)? up) (?:mistakes|errors|confused|stuck|"
    r"wrong)? ?(?:with|in|on|when)?\s*(?P<a>[^.!?;]+)|\bi find (?P<b>[\w\- ]+?) (?:really |so |very |quite |a bit )?"
    r"(?:hard|difficult|confusing|tricky|challenging|tough)|\bi(?:'m| am) (?:really |so |totally )?(?:confused|lost|"
    r"stuck) (?:by|about|with|on|in)\s+(?P<c>[^.!?;]+)|\bi (?:have|'ve got|am having|'m having) (?:a hard time|"
    r"trouble|difficulty|problems|issues) (?:with|understanding|learning|remembering)\s+(?P<d>[^.!?;]+)|"
    r"\b(?P<e>[\w\- ]{3,40}?) (?:is|are) (?:really |so |very |always )?(?:hard|difficult|confusing|tricky) for me|"
    r"\b(?P<h>[\w\- ]{3,40}?) (?:is|are) my (?:biggest |main |worst |weakest )?(?:weakness|weak spot|weak point|"
    r"struggle|problem area|nemesis)|\bi (?:always |often |usually |keep )?(?:lose|losing|drop|dropping) (?:marks|"
    r"points) (?:on|in|with|for)\s+(?P<i>[^.!?;]+)|\bi (?:always |often |usually |keep )?get(?:ting)? (?:stuck|"
    r"confused|lost|mixed up) (?:on|with|by|in|about)\s+(?P<j>[^.!?;]+)|\bi (?:can never|can'?t ever|never|can'?t|"
    r"cannot) (?:seem to )?(?:remember|memori[sz]e|get|understand|do|solve)\s+(?P<k>[^.!?;]+)|"
    r"\bi (?:don'?t|do not|can'?t|cannot) (?:understand|get|grasp|figure out|wrap my head around)\s+(?P<f>[^.!?;]+)|"
    r"\bi(?:'m| am) (?:bad|weak|terrible|awful|struggling|behind) (?:at|in|with|on)\s+(?P<g>[^.!?;]+)|"
    # "Trigonometry just doesn't click for me", "Organic chemistry is a real struggle for me"
    r"\b(?P<l>[\w\- ]{3,40}?) (?:just |really |still )?(?:doesn'?t|does not|don'?t|do not|won'?t|never) (?:really )?"
    r"(?:click|clicks|make sense|makes sense|stick|sticks) (?:for|with|to) me|"
    r"\b(?P<m>[\w\- ]{3,40}?) (?:is|are) (?:a |an )?(?:real |huge |big |total |constant )?(?:struggle|nightmare|"
    r"mystery) for me",
    re.IGNORECASE,
)
_MED_CONTEXT = re.compile(
    r"\b(?:\d+(?:\.\d+)?\s?(?:mg|ml|mcg|µg|units?|iu|milligrams?)|pills?|tablets?|capsules?|medications?|"
    r"medicines?|meds|prescri\w+|doses?|dosage|inhaler|injections?|drops|pharmacy|doctor|gp|daily|nightly|"
    r"schedule|tapering|taper|refill|pharmacist|side effects?|"
    r"(?:once|twice|three times) (?:a|per) day|every (?:morning|evening|night|day)|at bedtime|with (?:breakfast|"
    r"meals|food|dinner))\b",
    re.IGNORECASE,
)
_MED_MENTION = re.compile(
    r"\b(?:take|takes|taking|took|on|prescribed|using|use|inject|injecting|dose of|"
    r"switched to|put me on|started me on|schedule of|course of|carry|carries|changed my|refill(?:ed)? (?:of|my)?)"
    r"\s+(?:(?:my|a|an|some|daily|low-dose|baby)\s+)?(?:\d+(?:\.\d+)?\s?(?:mg|ml|mcg|µg|units?|iu)\s+(?:of\s+)?)?(?P<drug>[A-Za-z][\w\-]{2,})"
    r"(?P<more>(?:\s*(?:,|and|plus|as well as|&)\s*(?:\d+(?:\.\d+)?\s?(?:mg|ml|mcg)\s+(?:of\s+)?)?"
    r"[A-Za-z][\w\-]{2,})*)",
    re.IGNORECASE,
)
_DRUG_STEM = re.compile(
    r"(?:pril|sartan|statin|olol|formin|cillin|mycin|cycline|prazole|oxetine|aline|tidine|zepam|zolam|azole|"
    r"profen|sone|olone|ulin|thyroxine|dipine|gliptin|mab|vir|grel|parin|xaban|gatran|triptan|floxacin|tropin|"
    r"setron|lukast|terol|phylline|pramine|oxetine|azepam|barbital|dronate|glitazone|glinide|gliflozin|tide|"
    r"azine|idone|apine|etine|amine|codone|morphone|fenac|coxib|vastatin|semide|thiazide|olol|dipine|afil|"
    r"oxacin|conazole|tinib|ximab|zumab|umab|cept|plase|steride|osin|idine|oxine|amide|pine|exate|tecan|platin|"
    r"rubicin|gron|egron|trexate|racetam|tiapine|oxetil|ofen|amol|izine|adine|tadine)$",
    re.IGNORECASE,
)
MEDICINES = _words(
    """
    acetaminophen adderall advil aleve antibiotics antidepressants antihistamines aspirin b12 chemo
    chemotherapy codeine coumadin epipen estrogen folic heparin hrt ibuprofen inhaler insulin iron
    levothyroxine lexapro lithium magnesium melatonin metformin methadone morphine motrin naproxen
    omega-3 ozempic paracetamol prednisone probiotics prozac ritalin steroids testosterone thyroxine
    tylenol vitamin vitamins warfarin wegovy wellbutrin xanax zinc zoloft
    """
) | {"birth control", "the pill"}
NOT_MEDICINE = _words(
    """
    january february march april may june july august september october november december monday tuesday
    wednesday thursday friday saturday sunday
    session sessions appointment appointments therapy treatment work running job course lessons class
    schedule maternity paternity parental sick nights furlough probation benefits welfare disability
    me us him her them you
    a action advantage an anything bath baths board break breakfast breaks bus cab call calls care
    chances charge child children class classes coffee course courses daily daughter deep diet dinner
    dog dogs duty each elevator every everyday everything exam exams excel facebook ferry five flight
    four guitar hold holiday holidays instagram interest it java job kid kids leave lesson lessons lift
    linux lunch media medication medications medicine meds metro my nap naps note notes nothing off one
    out over part phone photo photos piano picture pictures pills place plane pride public python
    responsibility risks road schedule shape shift shifts shower showers social some something son
    stairs steps subway tablets taxi tea team test tests that the them things this three tiktok time
    tour track train tram transport trip trips turn turns twitter two up vacation violin walk walks way
    weekend weekends windows
    """
)


def _clean(value: str) -> str:
    value = re.sub(r"^(?:my|a|an|the|some|any)\s+", "", value.strip(" .,!?;:"), flags=re.IGNORECASE)
    return " ".join(value.split())


_TIME_WORD = re.compile(r"(?:^|-)(?:day|week|month|year|hour)s?$")


def is_medicine(word: str, sentence: str) -> bool:
    """A word taken, been on or prescribed is a medicine when it is a known one, has a drug's
    stem, or the sentence speaks of doses, schedules or prescriptions; never a common object of
    "take" ("classes", "the bus")."""
    w = word.casefold()
    if w in NOT_MEDICINE or len(w) < 3 or w.endswith("ing") or w[:1].isdigit():
        return False
    if any(part in NOT_MEDICINE or _TIME_WORD.search(part) for part in w.split()):
        return False
    if w in MEDICINES or _MED_CONTEXT.search(sentence):
        return True
    return bool(_DRUG_STEM.search(w)) and len(w) >= 6


_DOSE_OF = re.compile(
    r"\bmy (?P<drug>[a-z][\w\-]{4,}) (?:dose|dosage|prescription|refill|tablets|pills|inhaler)\b", re.I
)
_DEVICE = re.compile(
    r"\b(?P<drug>[a-z][\w\-]{4,}) (?:inhaler|injections?|pen|patch|patches|drops|cream|spray|pump)\b", re.I
)


def medications(text: str) -> Iterator[str]:
    for rx in (_DOSE_OF, _DEVICE):
        for m in rx.finditer(text):
            if m.group("drug").casefold() not in NOT_MEDICINE:
                yield m.group("drug")
    for m in _MED_MENTION.finditer(text):
        words = [m.group("drug"), *re.findall(r"[A-Za-z][\w\-]{2,}", m.group("more") or "")]
        for w in words:
            if w.casefold() in ("and", "plus", "as", "well", "of", "mg", "ml", "mcg"):
                continue
            if is_medicine(w, text) and not w[:1].isdigit():
                yield w


_STANDING = re.compile(
    r"\b(?:always|never|every|each|from now on|going forward|whenever|in future|in the future|each time|all the time|"
    r"remember to|make sure|by default|anytime|any time)\b",
    re.IGNORECASE,
)
_ADVERB_TONE = {"casually": "casual", "formally": "formal", "gently": "gentle", "kindly": "kind", "politely": "polite",
                "simply": "simple", "directly": "direct", "bluntly": "blunt", "honestly": "honest", "calmly": "calm",
                "warmly": "warm", "patiently": "patient", "seriously": "serious", "playfully": "playful"}  # fmt: skip
_REPLY_WORDS = re.compile(r"\b(?:answers?|repl(?:y|ies)|responses?|explanations?|messages?|tone|style|voice)\b", re.I)


_SWITCH = re.compile(r"\b(?:switch|change|go|move)\s+(?:back\s+|over\s+)?(?:to|into)\s+(?P<to>[A-Za-z]+)", re.I)


_FRAGMENT_MARK = re.compile(r"\b(?:please|pls|only|ever|always|never|from now on|going forward)\b|^\W*no\s", re.I)
# a line opening with how to answer ("Respond in Portuguese"): the small tagger often reads the verb as a noun
ANSWER_VERBS = ("reply", "respond", "answer", "write", "talk", "speak", "explain")
_ANSWER_OPENING = re.compile(rf"^\W*(?:{'|'.join(ANSWER_VERBS)})\b", re.I)


_ASKED = re.compile(
    r"^\W*(?:can|could|would|will)\s+you\s+(?:please\s+|maybe\s+|just\s+|try\s+(?:to\s+)?)?(?P<verb>be|keep|use|"
    r"write|reply|respond|answer|talk|speak|explain|stop|avoid|switch|make)\b(?P<rest>.*)$",
    re.I,
)


def said_to_assistant(sent: Span) -> bool:
    """A line that can only be an instruction about the assistant's answers, though the usual
    test for a statement would drop it:

    * verbless: "Plain text only, no Markdown.", "No emojis, ever.", "Formal tone please." It
      names a property of replies (a format, a tone, the word "answers" or "tone") and asks for it
      ("please", "only", "ever", "always", or a leading "no"). "Brief update: no news" asks nothing.
    * a request shaped as a question about how to answer: "Could you be a bit gentler with me?",
      "Can you keep your answers short?", "Would you stop using emojis?" It names a tone, a
      format, a language, the answers themselves, or a standing time ("from now on"). "Could you
      explain photosynthesis?" asks for one answer, not for how to answer: a question, dropped."""
    text = sent.text.strip()
    if text.endswith("?"):
        asked = _ASKED.search(text.rstrip("?"))
        if asked is None:
            return False
        rest = asked.group("rest")
        languages = any(w.casefold() in LANGUAGES for w in re.findall(r"[A-Za-z]+", rest))
        return bool(
            _FORMAT.search(rest) or _TONE.search(rest) or _REPLY_WORDS.search(rest) or _STANDING.search(rest)
            or languages or asked.group("verb").casefold() in ("stop", "avoid")
        )  # fmt: skip
    if any(t.pos_ in ("VERB", "AUX") and t.lower_ not in ("please", "pls") for t in sent):
        return False
    opening = _ANSWER_OPENING.search(text)
    names_reply = opening or _FORMAT.search(text) or _TONE.search(text) or _REPLY_WORDS.search(text)
    return bool(names_reply and (opening or _FRAGMENT_MARK.search(text)))


def instructions(sent: Span, imperative: bool = False, *, addressed: bool = False) -> Iterator[tuple[str, str]]:
    """(name, value) of what an instruction to the assistant asks; a plain imperative counts
    only when it is standing ("... at the end of each lesson", "always ..."); ``addressed``: the
    caller knows the line is said to the assistant (:func:`addressed_fragment`)."""
    text = sent.text.strip()
    switched = _SWITCH.search(text)
    if imperative and switched and switched.group("to").casefold() in LANGUAGES:  # "switch back to English please"
        yield "response_language", switched.group("to")
        return
    if not (
        addressed or _TO_ASSISTANT.search(text) or _REPLY_WORDS.search(text) or (imperative and _STANDING.search(text))
    ):
        return
    # "don't ..." said to the assistant; "I don't learn fast" is the speaker's, not an instruction
    negative = re.search(
        r"(?<!\bi )(?<!\bwe )\b(?:don'?t|do not|never|avoid|stop|no more|please no|without|no)\b", text, re.I
    )
    positive_text = text[: negative.start()] if negative else text
    if negative:
        m = _AVOID.search(text[negative.start() :])
        what = _clean(m.group("what")) if m else _clean(text[negative.end() :])
        if what:
            yield "avoid", what
    found = bool(negative)
    language = [w for w in re.findall(r"[A-Za-z]+", positive_text) if w.casefold() in LANGUAGES]
    if language and re.search(r"\b(?:in|into|to)\s+(?:\w+\s+)?" + re.escape(language[0]), text, re.IGNORECASE):
        yield "response_language", language[0]
        found = True
    for adverb, tone_word in _ADVERB_TONE.items():
        if re.search(rf"\b{adverb}\b", positive_text, re.IGNORECASE):
            yield "response_tone", tone_word
            found = True
    text = positive_text
    formats = [
        m for m in _FORMAT.finditer(text) if m.group(1).casefold() not in ("examples", "example", "emojis", "emoji")
    ]
    if formats:  # "step-by-step numbered lists": the whole phrase
        yield "response_format", text[formats[0].start() : formats[-1].end()]
        found = True
    tone = _TONE.search(text)
    if tone is not None:
        yield "response_tone", tone.group(1)
        found = True
    length = re.search(r"\b(?:under|at most|no more than|less than|max(?:imum)?(?: of)?)\s+(\w+\s+(?:sentences?|words?|"
                       r"paragraphs?|lines?|bullets?))", text, re.IGNORECASE)  # fmt: skip
    if length is not None:
        yield "response_format", length.group(0)
        found = True
    if not found and text.strip():
        yield "instructions", _clean(re.sub(r"^\s*(?:please|pls)\s*,?\s*", "", text, flags=re.IGNORECASE))


def goals(text: str) -> Iterator[str]:
    for m in _GOAL.finditer(text):
        value = _clean(m.group("a") or m.group("b") or m.group("c") or "")
        if value:
            yield value


_SYMPTOM_WORD = re.compile(rf"\b(?P<s>{SYMPTOMS})\b", re.IGNORECASE)
_NOUN_OF = {"coughing": "cough", "sneezing": "sneezing", "cramping": "cramps", "nauseous": "nauseous"}


def symptoms(text: str) -> Iterator[str]:
    """Every complaint of a sentence that says the speaker has or feels one, with its duration."""
    first = _SYMPTOM.search(text)
    if first is not None:
        duration = _DURATION.search(text)
        for m in _SYMPTOM_WORD.finditer(text, first.start("s")):
            s = m.group("s").casefold()
            if s in ("pain", "pains"):
                part = re.search(r"\bin (?:my|the) (\w+)", text[m.end() :])
                s = f"{part.group(1)} pain" if part else s
            s = _NOUN_OF.get(s, s)
            yield f"{s} ({duration.group(0).strip()})" if duration else s
    for m in _HURTS.finditer(text):
        duration = _DURATION.search(text[m.end() :])
        hurt = m.group("part")
        if hurt.split()[-1].casefold() not in BODY_PARTS:
            continue  # "my job is killing me"
        value = f"{hurt[:-1] if hurt.endswith('s') and not hurt.endswith('ss') else hurt} pain"  # "my knees ache"
        yield f"{value} ({duration.group(0).strip()})" if duration else value


_INJURED = BODY_PARTS | _words("acl mcl rib collarbone meniscus achilles rotator cuff kneecap skull nail vertebra")


def injuries(text: str) -> Iterator[str]:
    for m in _INJURY.finditer(text):
        value = _clean(re.sub(r"\b(?:old|new|bad|nasty|minor|serious|recent|an|a)\s+", "", m.group(0), flags=re.I))
        hurt = re.sub(r"\s(?:ligament|muscle|tendon|bone|disc)$", "", value, flags=re.I).split()[-1:]
        if m.group("a") and not (hurt and hurt[0].casefold() in _INJURED):
            continue  # "I've cracked quadratic equations": a verb of injury, and no body part
        if (value and value.casefold() not in ("injury", "injuries")) or value:
            yield value


def mastered(text: str) -> Iterator[str]:
    for m in _MASTERED.finditer(text):
        value = _clean(next(g for g in m.groups() if g))
        if value and not value.casefold().startswith(("what", "that", "it", "how", "you", "him", "her", "them")):
            yield value


def exams(text: str) -> Iterator[str]:
    for m in _HAVE_EXAM.finditer(text):
        yield _clean(f"{m.group('what')} {m.group('when')}")


def difficulties(text: str) -> Iterator[str]:
    for m in _DIFFICULTY.finditer(text):
        value = _clean(next(g for g in m.groups() if g))
        if value and value.casefold() not in ("it", "this", "that", "them"):
            yield value
