"""The words and word patterns the attribute distiller (recalld.extraction.attributes) knows.

Medications and conditions, occupations, family and the other people a sentence can be about,
likes and dislikes, diets, exercise, study and the frequencies that make a habit.
"""

from __future__ import annotations

import re

from recalld.extraction.words import KIN
from recalld.kernel import slots

# -- medications and conditions ----------------------------------------------

TAKING = frozenset({"take", "is_on", "prescribed", "prescribe", "start_take", "use", "inject"})
SCHEDULE_WORDS = re.compile(r"\s+(?:daily|nightly|weekly|twice|once|every)\b.*$", re.IGNORECASE)
MEDICATION = re.compile(r"\b(?:\d+\s?(?:mg|ml|mcg)|pills?|tablets?|medication|medicine|prescri\w+|dose)\b", re.I)
# "I take <drug>": a dosage word in the sentence, or a drug-like name (common INN stems).
TAKEN_DRUG = re.compile(
    r"\b(?:take|takes|taking|took|on|prescribed)\s+(?:\d+\s?(?:mg|ml|mcg)\s+(?:of\s+)?)?([A-Za-z][\w\-]+)", re.I
)
DRUG_STEM = re.compile(
    r"(?:pril|sartan|statin|olol|formin|cillin|mycin|cycline|prazole|oxetine|aline|tidine|zepam|zolam|azole|"
    r"profen|sone|olone|ulin|thyroxine|dipine|gliptin|mab|vir)$",
    re.I,
)
CONDITIONS = re.compile(
    r"\b(diabetes|asthma|adhd|autism|dyslexia|epilepsy|migraines?|hypertension|high blood pressure|"
    r"depression|anxiety|insomnia|arthritis|eczema|celiac disease|coeliac disease|cancer|covid|"
    r"(?:[a-z]+itis)|(?:[a-z']+ (?:disease|disorder|syndrome)))\b",
    re.IGNORECASE,
)
ACRONYM = re.compile(
    r"\b(?i:have|has|had|got|diagnosed with|living with|because of my|for my)\s+(?:a\s+|an\s+)?([A-Z]{2,6})\b"
)
# ("living with" is recalld.extraction.said_attributes': there it must name a condition, not "my boyfriend")
DIAGNOSED = re.compile(r"\b(?:diagnosed with|suffer(?:s|ing)? from)\s+([a-z][\w\- ]{1,40})", re.IGNORECASE)

# -- who the speaker is, and who else a sentence can be about ------------------

OCCUPATIONS = {
    "nurse", "doctor", "teacher", "engineer", "software engineer", "developer", "programmer", "designer",
    "lawyer", "accountant", "architect", "pharmacist", "dentist", "surgeon", "physician", "therapist",
    "counselor", "counsellor", "scientist", "researcher", "professor", "lecturer", "writer", "journalist",
    "chef", "cook", "waiter", "waitress", "cashier", "manager", "consultant", "analyst", "electrician",
    "plumber", "carpenter", "mechanic", "driver", "pilot", "firefighter", "police officer", "paramedic",
    "artist", "musician", "photographer", "librarian", "social worker", "veterinarian", "vet", "farmer",
    "entrepreneur",
}  # fmt: skip
OCCUPATION_SUFFIX = re.compile(r"(?:er|or|ist|ian|ant|ent|ographer|ologist|smith|wright|man|woman|nurse|chef|"
                               r"cook|gp|medic|barista|pilot|clerk|agent|officer|nanny|tutor|coach|ceo|cto|"
                               r"founder|intern|freelancer|locum)$")  # fmt: skip
NOT_OCCUPATION = frozenset({"person", "mother", "father", "brother", "sister", "daughter", "grandmother", "member",
                            "beginner", "user", "customer", "fan", "owner", "partner", "citizen", "resident",
                            "patient", "survivor", "runner", "smoker", "vegetarian", "vegan", "winner", "loser",
                            "introvert", "extrovert", "perfectionist", "optimist", "pessimist", "parent", "other",
                            "number", "student", "pupil", "sophomore", "freshman", "junior", "senior", "learner",
                            "newbie", "veteran", "widower", "widow", "foodie", "gamer", "reader", "writer",
                            "traveler", "traveller", "lover", "believer", "dreamer"})  # fmt: skip
FAMILY = {
    "toddler", "stepdaughter", "stepson", "stepmother", "stepfather", "stepmom", "stepdad", "stepmum", "twin",
    "grandson", "granddaughter", "grandchild", "grandkid", "mother-in-law", "father-in-law", "half-brother",
    "half-sister", "mother", "father", "mom", "dad", "sister", "brother", "son", "daughter", "wife", "husband",
    "partner", "kid", "child", "grandmother", "grandfather", "grandma", "grandpa", "aunt", "uncle", "cousin",
    "niece", "nephew", "fiance", "fiancee",
}  # fmt: skip
GRANDPARENTS = {"grandparent", "grandparents"}
PEOPLE = FAMILY | KIN | slots.ROLES | GRANDPARENTS | {
    "friend", "boyfriend", "girlfriend", "fiance", "colleague", "boss", "neighbour", "neighbor", "roommate",
    "flatmate", "kid", "baby", "toddler", "dog", "cat", "pet", "stepson", "stepdaughter", "grandchild", "grandson",
    "granddaughter", "team", "class", "family", "parent", "parents",
}  # fmt: skip

# -- likes, diets, habits, study ---------------------------------------------

LIKE = {"love", "like", "enjoy", "adore", "prefer"}
# what someone is when they like something, not a trade: "a huge Liverpool supporter", "a jazz lover"
FANS = frozenset({"fan", "supporter", "lover", "enthusiast", "addict", "fanatic", "nerd", "geek", "buff", "devotee",
                  "aficionado", "admirer", "follower"})  # fmt: skip
FAN_INTENSIFIERS = frozenset({"huge", "big", "massive", "great", "total", "die-hard", "diehard", "lifelong",
                              "avid", "real", "true", "proper", "keen", "devoted", "absolute", "complete",
                              "loyal"})  # fmt: skip
# animals people eat: "I'll have fish now and then" is a meal, "we have two fish" pets
EDIBLE = frozenset(
    {"fish", "chicken", "lamb", "duck", "rabbit", "turkey", "crab", "lobster", "prawn", "shrimp", "goat"}
)
DISLIKE = {"hate", "dislike", "detest", "loathe"}
LIKE_PHRASES = frozenset({"is_into", "crazy_about", "fond_of", "obsessed_with", "passionate_about", "keen_on",
                          "fan_of", "addicted_to", "mad_about", "big_on", "nuts_about", "hooked_on"})  # fmt: skip
DISLIKE_PHRASES = frozenset({"not_stand", "can_not_stand", "not_bear", "is_disgusting_to"})
DIET_WORDS = re.compile(
    r"\b(vegetarian|vegan|pescatarian|pescetarian|keto|ketogenic|paleo|gluten[- ]free|dairy[- ]free|lactose[- ]free|"
    r"halal|kosher|low[- ]carb|low[- ]fodmap|fodmap|mediterranean|intermittent fasting|fasting|plant[- ]based|"
    r"carnivore|raw food|whole30|low[- ]sugar|low[- ]salt|low[- ]sodium|diabetic)\b",
    re.IGNORECASE,
)
EXERCISE = {
    "run", "jog", "swim", "cycle", "bike", "lift", "train", "walk", "hike", "row", "climb", "box", "dance",
    "stretch", "skate", "ski",
}  # fmt: skip
EXERCISE_OBJECTS = re.compile(
    r"\b(gym|yoga|pilates|workouts?|work out|crossfit|tennis|football|soccer|basketball|spin|spinning|cycling|zumba|"
    r"boxing|swimming|running|martial arts|karate|judo|jiu-jitsu|climbing|bouldering|rowing|hiit|bootcamp|parkrun|"
    r"dance|dancing|ballet|squash|badminton|volleyball|hockey|rugby|cricket|golf|weights|lifting|training|marathon)\b",
    re.IGNORECASE,  # "Pilates", "Zumba" are written with a capital
)
STUDY = {"study", "revise", "practice", "practise", "read", "review"}
STUDY_ROUTINE = re.compile(r"\b(?:stud(?:y|ying)|revis(?:e|ion|ing)|anki|flashcards?|past papers?|homework|pomodoro|"
                           r"lectures?|reviews?|exam prep|practice tests?|mock exams?)\b", re.I)  # fmt: skip
STUDY_WORDS = re.compile(
    r"\b(?:degree|major\w*|course|class|classes|phd|masters?|diploma|studying|student|study)\b", re.I
)
SCHOOL_NAME = re.compile(r"\b(?:school|high|college|university|uni|academy|institute|polytechnic|tu|lyc[eé]e)\b", re.I)
_DAY = "(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
FREQUENCY = re.compile(
    r"\b(every|each)\s+(?:other\s+)?(morning|evening|night|day|week|weekend|month|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday)\b|\b(daily|weekly|nightly)\b|\b(once|twice|\w+ times) (?:a|per) "
    r"(day|week|month)\b|\bon (mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays|weekends)\b|"
    r"\b(before bed|before school|after school|after work|after dinner|in the mornings|at night|every weekday)\b|"
    # "on Tuesday and Thursday evenings", "on Monday mornings": days that recur
    rf"\bon {_DAY}s?(?:,? (?:and )?{_DAY}s?)+\b|\bon {_DAY}s? (?:mornings|evenings|nights|afternoons)\b",
    re.IGNORECASE,
)
DROP_ADVERBS = {"recently", "just", "now", "usually", "always", "also", "still", "really", "often", "normally"}
INCEPTION = {"start", "begin", "take"}  # "I started running", "I took up swimming"
