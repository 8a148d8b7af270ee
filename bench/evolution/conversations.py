"""Scripted conversations for bench.evolution, written by hand (not taken from the rules).

Each conversation is one user's short history: turns (reference date, what the user said),
then probes: a question, the keywords any one of which states the current answer, and, where
the truth changed, the keyword of the past answer and a date at which it was true. ``survive``
lists keywords of facts that must still hold at the end (distractors that a careless rule
would retire); ``repeat`` names a statement made more than once that must be stored once.
Keywords match whole words, case-insensitively, in a memory's text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Probe:
    question: str
    current: tuple[str, ...]
    past: str = ""
    as_of: str = ""  # ISO date at which ``past`` was true


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    category: str
    turns: tuple[tuple[str, str], ...]  # (ISO date, user message)
    probes: tuple[Probe, ...]
    survive: tuple[str, ...] = ()
    repeat: str = ""  # a keyword stated more than once: one current memory must hold it
    changes: bool = True  # False: nothing in this conversation should be retired


def c(
    id: str,
    category: str,
    turns: list[tuple[str, str]],
    probes: list[Probe],
    *,
    survive: tuple[str, ...] = (),
    repeat: str = "",
    changes: bool = True,
) -> Conversation:
    return Conversation(id, category, tuple(turns), tuple(probes), survive, repeat, changes)


P = Probe


def load(path: Path) -> list[Conversation]:
    """Histories in the JSON format of bench/truth and bench/blind (their README.md)."""
    out = []
    for h in json.loads(path.read_text()):
        probes = tuple(
            Probe(p["question"], tuple(p["current"]), p.get("past", ""), p.get("as_of", "")) for p in h["probes"]
        )
        turns = tuple((d, t) for d, t in h["turns"])
        out.append(
            Conversation(h["id"], h["category"], turns, probes, tuple(h.get("survive", ())), "", h.get("changes", True))
        )
    return out


CONVERSATIONS: list[Conversation] = [
    # -- moves -------------------------------------------------------------------------------------
    c("move-1", "move", [("2024-01-10", "I live in Berlin."), ("2024-03-02", "Actually I moved to Paris last month.")],
      [P("Where do I live?", ("Paris",), "Berlin", "2024-01-20")]),
    c("move-2", "move", [("2024-01-05", "I'm living in Manchester at the moment."),
                         ("2024-02-11", "I like the football culture here."),
                         ("2024-06-20", "We relocated to Leeds in May.")],
      [P("Which city do I live in?", ("Leeds",), "Manchester", "2024-02-01")], survive=("football",)),
    c("move-3", "move", [("2024-02-01", "I live in Toronto with my partner."),
                         ("2024-04-15", "I moved to Vancouver two weeks ago.")],
      [P("Where do I live now?", ("Vancouver",), "Toronto", "2024-03-01")]),
    c("move-4", "move", [("2023-11-03", "My home is in Lyon."), ("2024-02-19", "I just moved to Marseille.")],
      [P("Where is my home?", ("Marseille",), "Lyon", "2024-01-01")]),
    c("move-5", "move", [("2024-01-08", "I live in Austin, Texas."), ("2024-01-20", "I love visiting Denver."),
                         ("2024-05-30", "I moved to Seattle for work.")],
      [P("Where do I live?", ("Seattle",), "Austin", "2024-02-01")], survive=("Denver",)),
    c("move-6", "move", [("2024-03-01", "I live in Madrid."), ("2024-03-20", "My sister lives in Valencia."),
                         ("2024-07-01", "I moved to Barcelona last week.")],
      [P("Where do I live?", ("Barcelona",), "Madrid", "2024-04-01")], survive=("Valencia",)),
    c("move-7", "move", [("2024-01-15", "I live in Oslo."), ("2024-04-01", "I moved to Bergen."),
                         ("2024-09-01", "I moved back to Oslo last month.")],
      [P("Where do I live?", ("Oslo",), "Bergen", "2024-05-01")]),
    c("move-8", "move", [("2024-02-02", "I live in Dublin."), ("2024-02-10", "I visited Cork last weekend."),
                         ("2024-08-12", "I have moved to Galway.")],
      [P("Where do I live?", ("Galway",), "Dublin", "2024-03-01")], survive=("Cork",)),
    # -- jobs --------------------------------------------------------------------------------------
    c("job-1", "job", [("2024-01-10", "I work at Google."), ("2024-05-02", "I started working for Apple last month.")],
      [P("Where do I work?", ("Apple",), "Google", "2024-02-01")]),
    c("job-2", "job", [("2024-01-12", "I work as a nurse at the city hospital."),
                       ("2024-06-01", "I work as a paramedic now.")],
      [P("What is my job?", ("paramedic",), "nurse", "2024-02-01")]),
    c("job-3", "job", [("2024-02-01", "I work for Siemens in Munich."),
                       ("2024-02-20", "I enjoy hiking in the Alps."),
                       ("2024-07-10", "I joined BMW in June.")],
      [P("Which company do I work for?", ("BMW",), "Siemens", "2024-03-01")], survive=("Alps",)),
    c("job-4", "job", [("2024-01-03", "I work at a bakery."), ("2024-03-15", "I work at a bookstore now.")],
      [P("Where do I work?", ("bookstore",), "bakery", "2024-02-01")]),
    c("job-5", "job", [("2024-01-20", "I work as a teacher."), ("2024-01-25", "My brother works as a lawyer."),
                       ("2024-09-01", "I work as a school principal now.")],
      [P("What do I do for a living?", ("principal",), "teacher", "2024-03-01")], survive=("lawyer",)),
    c("job-6", "job", [("2024-03-03", "I work at Microsoft."), ("2024-03-10", "I use Python every day."),
                       ("2024-10-01", "I left Microsoft and now I work at Amazon.")],
      [P("Where do I work?", ("Amazon",), "Microsoft", "2024-04-01")], survive=("Python",)),
    c("job-7", "job", [("2024-01-07", "I work at the Louvre."), ("2024-04-07", "I work at the Orsay museum now.")],
      [P("Where do I work?", ("Orsay",), "Louvre", "2024-02-01")]),
    c("job-8", "job", [("2024-02-14", "I work for Deloitte."), ("2024-03-01", "My wife works for KPMG."),
                       ("2024-08-30", "I work for PwC since August.")],
      [P("Which firm do I work for?", ("PwC",), "Deloitte", "2024-04-01")], survive=("KPMG",)),
    # -- medication ----------------------------------------------------------------------------------
    c("med-1", "medication", [("2024-01-10", "I take ibuprofen for my back pain."),
                              ("2024-03-01", "I stopped taking ibuprofen.")],
      [P("Do I take ibuprofen?", ("stopped",), "back pain", "2024-02-01")]),
    c("med-2", "medication", [("2024-01-05", "I take metformin every morning."),
                              ("2024-01-06", "I take vitamin D in winter."),
                              ("2024-04-20", "My doctor told me to stop metformin, so I quit metformin.")],
      [P("Am I on metformin?", ("quit", "stop"), "every morning", "2024-02-01")], survive=("vitamin",)),
    c("med-3", "medication", [("2024-02-01", "I take lisinopril for my blood pressure."),
                              ("2024-05-01", "I no longer take lisinopril.")],
      [P("Do I still take lisinopril?", ("no longer",), "blood pressure", "2024-03-01")]),
    c("med-4", "medication", [("2024-01-15", "I take sertraline."),
                              ("2024-06-15", "I stopped taking sertraline in May.")],
      [P("Am I taking sertraline?", ("stopped",), "take sertraline", "2024-02-01")]),
    c("med-5", "medication", [("2024-01-02", "I use an albuterol inhaler for asthma."),
                              ("2024-01-09", "I take omeprazole before breakfast."),
                              ("2024-04-09", "I stopped taking omeprazole.")],
      [P("Do I take omeprazole?", ("stopped",), "before breakfast", "2024-02-01")], survive=("albuterol",)),
    c("med-6", "medication", [("2024-03-01", "I take melatonin to sleep."),
                              ("2024-07-01", "I don't take melatonin anymore.")],
      [P("Do I take melatonin?", ("anymore",), "to sleep", "2024-04-01")]),
    c("med-7", "medication", [("2024-01-11", "I take aspirin daily."), ("2024-02-11", "I take fish oil too."),
                              ("2024-05-11", "I gave up aspirin.")],
      [P("Do I take aspirin?", ("gave up",), "daily", "2024-03-01")], survive=("fish oil",)),
    c("med-8", "medication", [("2024-02-05", "I take insulin at night."),
                              ("2024-02-06", "I take insulin at night.")],
      [P("When do I take insulin?", ("night",))], repeat="insulin", changes=False),
    # -- allergies --------------------------------------------------------------------------------------
    c("allergy-1", "allergy", [("2024-01-10", "I am allergic to latex."),
                               ("2024-04-10", "I'm not allergic to latex any more.")],
      [P("Am I allergic to latex?", ("not allergic",), "am allergic", "2024-02-01")]),
    c("allergy-2", "allergy", [("2024-01-10", "I'm allergic to penicillin."),
                               ("2024-01-12", "I'm allergic to peanuts.")],
      [P("What am I allergic to?", ("penicillin", "peanuts"))], survive=("penicillin", "peanuts"), changes=False),
    c("allergy-3", "allergy", [("2024-02-01", "I'm not allergic to shellfish."),
                               ("2024-06-01", "I am allergic to shellfish, I found out last week.")],
      [P("Am I allergic to shellfish?", ("found out",), "not allergic", "2024-03-01")]),
    c("allergy-4", "allergy", [("2024-01-20", "I am allergic to cats."), ("2024-01-21", "My friend has three cats.")],
      [P("What am I allergic to?", ("cats",))], survive=("allergic to cats", "friend"), changes=False),
    c("allergy-5", "allergy", [("2024-03-03", "I'm allergic to pollen."),
                               ("2024-08-03", "I'm no longer allergic to pollen.")],
      [P("Am I allergic to pollen?", ("no longer",), "allergic to pollen", "2024-04-01")]),
    c("allergy-6", "allergy", [("2024-01-05", "I'm allergic to ibuprofen."),
                               ("2024-01-07", "I take paracetamol for headaches.")],
      [P("Which painkiller can I take?", ("paracetamol",))], survive=("allergic", "paracetamol"), changes=False),
    # -- pets -----------------------------------------------------------------------------------------
    c("pet-1", "pet", [("2024-01-10", "My cat Luna is a Siamese."),
                       ("2024-01-15", "Actually Luna is a Persian, not a Siamese.")],
      [P("What breed is Luna?", ("Persian",))]),
    c("pet-2", "pet", [("2024-02-01", "My dog is called Coco."), ("2024-02-20", "My dog's name is Joy.")],
      [P("What is my dog's name?", ("Joy",))]),
    c("pet-3", "pet", [("2024-01-03", "I have a hamster named Peanut."),
                       ("2024-01-04", "Peanut loves sunflower seeds.")],
      [P("What does Peanut like to eat?", ("sunflower",))], survive=("hamster", "sunflower"), changes=False),
    c("pet-4", "pet", [("2024-03-01", "Max is a Labrador."), ("2024-03-02", "Sorry, Max is a Golden Retriever.")],
      [P("What breed is Max?", ("Golden",))]),
    c("pet-5", "pet", [("2024-01-09", "My parrot Kiwi is 3 years old."), ("2024-01-10", "Kiwi can say hello.")],
      [P("What can Kiwi say?", ("hello",))], survive=("3 years", "hello"), changes=False),
    c("pet-6", "pet", [("2024-01-20", "My cat Tiger caught a cold last week."),
                       ("2024-02-20", "My cat is healthy again.")],
      [P("How is my cat?", ("healthy",))], survive=("cold",)),
    # -- exact repeats --------------------------------------------------------------------------------
    c("repeat-1", "repeat", [("2024-01-01", "I play the piano."), ("2024-02-01", "I play the piano.")],
      [P("What instrument do I play?", ("piano",))], repeat="piano", changes=False),
    c("repeat-2", "repeat", [("2024-01-01", "My favourite food is sushi."),
                             ("2024-01-15", "My favourite food is sushi."),
                             ("2024-03-01", "My favourite food is sushi.")],
      [P("What is my favourite food?", ("sushi",))], repeat="sushi", changes=False),
    c("repeat-3", "repeat", [("2024-02-02", "I run 5 km every morning."), ("2024-02-09", "I run 5 km every morning.")],
      [P("How far do I run?", ("5 km",))], repeat="5 km", changes=False),
    c("repeat-4", "repeat", [("2024-01-05", "I have two daughters."), ("2024-04-05", "I have two daughters.")],
      [P("How many daughters do I have?", ("two",))], repeat="daughters", changes=False),
    c("repeat-5", "repeat", [("2024-03-01", "I study linear algebra."), ("2024-03-08", "i study linear algebra")],
      [P("What do I study?", ("linear algebra",))], repeat="linear algebra", changes=False),
    c("repeat-6", "repeat", [("2024-01-10", "I speak Spanish and German."),
                             ("2024-01-30", "I speak Spanish and German.")],
      [P("Which languages do I speak?", ("Spanish",))], repeat="German", changes=False),
    # -- paraphrases ----------------------------------------------------------------------------------
    c("para-1", "paraphrase", [("2024-01-01", "I am allergic to penicillin."),
                               ("2024-01-20", "I'm allergic to penicillin.")],
      [P("What am I allergic to?", ("penicillin",))], repeat="penicillin", changes=False),
    c("para-2", "paraphrase", [("2024-01-01", "I love playing tennis."),
                               ("2024-02-01", "I really love playing tennis.")],
      [P("Which sport do I like?", ("tennis",))], repeat="tennis", changes=False),
    c("para-3", "paraphrase", [("2024-01-05", "My birthday is on 12 March."),
                               ("2024-02-05", "My birthday is 12 March.")],
      [P("When is my birthday?", ("12 March",))], repeat="birthday", changes=False),
    c("para-4", "paraphrase", [("2024-02-01", "I have a cat named Luna."), ("2024-03-01", "I have a cat called Luna.")],
      [P("What is my cat's name?", ("Luna",))], repeat="Luna", changes=False),
    c("para-5", "paraphrase", [("2024-01-10", "I drink coffee every morning."),
                               ("2024-01-25", "Every morning I drink coffee.")],
      [P("What do I drink in the morning?", ("coffee",))], repeat="coffee", changes=False),
    c("para-6", "paraphrase", [("2024-03-10", "I go swimming on Sundays."),
                               ("2024-03-17", "On Sundays I go swimming.")],
      [P("What do I do on Sundays?", ("swimming",))], repeat="swimming", changes=False),
    # -- explicit corrections --------------------------------------------------------------------------
    c("fix-1", "correction", [("2024-01-10", "The team meeting is on Monday."),
                              ("2024-01-10", "Sorry, I meant Tuesday.")],
      [P("When is the team meeting?", ("Tuesday",))]),
    c("fix-2", "correction", [("2024-02-01", "My exam is in May."), ("2024-02-01", "I meant June.")],
      [P("When is my exam?", ("June",))]),
    c("fix-3", "correction", [("2024-01-15", "My daughter is 7 years old."),
                              ("2024-01-15", "Sorry, I meant 8.")],
      [P("How old is my daughter?", ("8",))]),
    c("fix-4", "correction", [("2024-03-03", "My sister Anna lives in Rome."),
                              ("2024-03-04", "Actually Anna lives in Milan, not Rome.")],
      [P("Where does Anna live?", ("Milan",))]),
    c("fix-5", "correction", [("2024-02-02", "My favourite band is Coldplay."),
                              ("2024-02-03", "Actually my favourite band is Radiohead.")],
      [P("What is my favourite band?", ("Radiohead",))]),
    c("fix-6", "correction", [("2024-01-20", "The dentist appointment is on Friday."),
                              ("2024-01-20", "No wait, I meant Thursday.")],
      [P("When is the dentist appointment?", ("Thursday",))]),
    # -- diet -----------------------------------------------------------------------------------------
    c("diet-1", "diet", [("2024-01-05", "I'm a vegetarian."), ("2024-06-05", "I'm no longer vegetarian.")],
      [P("Am I vegetarian?", ("no longer",), "a vegetarian", "2024-02-01")]),
    c("diet-2", "diet", [("2024-01-05", "I eat meat."), ("2024-04-05", "I don't eat meat anymore.")],
      [P("Do I eat meat?", ("anymore",), "I eat meat", "2024-02-01")]),
    c("diet-3", "diet", [("2024-02-10", "I'm vegan."), ("2024-02-11", "I like tofu a lot.")],
      [P("What is my diet?", ("vegan",))], survive=("vegan", "tofu"), changes=False),
    c("diet-4", "diet", [("2024-01-01", "I drink alcohol on weekends."), ("2024-05-01", "I quit drinking alcohol.")],
      [P("Do I drink alcohol?", ("quit",), "on weekends", "2024-02-01")]),
    # -- partners -------------------------------------------------------------------------------------
    c("partner-1", "partner", [("2024-01-10", "I married Tom in 2019."),
                               ("2024-06-10", "I married Daniel last month.")],
      [P("Who am I married to?", ("Daniel",), "Tom", "2024-02-01")]),
    c("partner-2", "partner", [("2024-02-01", "My husband is called Marco."),
                               ("2024-02-05", "Marco works as a chef.")],
      [P("What does my husband do?", ("chef",))], survive=("Marco", "chef"), changes=False),
    c("partner-3", "partner", [("2024-01-15", "I'm married to Sarah."), ("2024-09-15", "I married Julia in August.")],
      [P("Who is my wife?", ("Julia",), "Sarah", "2024-03-01")]),
    c("partner-4", "partner", [("2024-01-02", "My girlfriend is Emma."), ("2024-01-03", "Emma likes jazz.")],
      [P("What music does Emma like?", ("jazz",))], survive=("Emma", "jazz"), changes=False),
    # -- age ------------------------------------------------------------------------------------------
    c("age-1", "age", [("2023-03-01", "I'm 34 years old."), ("2024-03-05", "I'm 35 years old.")],
      [P("How old am I?", ("35",), "34", "2023-06-01")]),
    c("age-2", "age", [("2023-05-01", "I am 61 years old."), ("2024-05-02", "I'm 62 years old now.")],
      [P("What is my age?", ("62",), "61", "2023-08-01")]),
    c("age-3", "age", [("2024-01-01", "I'm 28 years old."), ("2024-01-02", "My brother is 31 years old.")],
      [P("How old is my brother?", ("31",))], survive=("28", "31"), changes=False),
    # -- distractors: nothing may be retired ------------------------------------------------------------
    c("keep-1", "distractor", [("2024-01-01", "I live in Berlin."), ("2024-02-01", "I like Paris."),
                               ("2024-03-01", "I visited Munich in March.")],
      [P("Where do I live?", ("Berlin",))], survive=("Berlin", "Paris", "Munich"), changes=False),
    c("keep-2", "distractor", [("2024-01-01", "I work at Google."), ("2024-01-02", "My husband works at Meta.")],
      [P("Where do I work?", ("Google",))], survive=("Google", "Meta"), changes=False),
    c("keep-3", "distractor", [("2024-01-10", "I take ibuprofen for my back."),
                               ("2024-01-12", "I take vitamin C every day.")],
      [P("What do I take for my back?", ("ibuprofen",))], survive=("ibuprofen", "vitamin"), changes=False),
    c("keep-4", "distractor", [("2024-01-10", "I have a dog named Rex."), ("2024-01-11", "I have a cat named Mia.")],
      [P("What is my dog's name?", ("Rex",))], survive=("Rex", "Mia"), changes=False),
    c("keep-5", "distractor", [("2024-02-02", "I live in London."), ("2024-02-03", "My parents live in Leeds.")],
      [P("Where do I live?", ("London",))], survive=("London", "Leeds"), changes=False),
    c("keep-6", "distractor", [("2024-01-01", "I study biology."), ("2024-01-02", "I study chemistry too.")],
      [P("What do I study?", ("biology", "chemistry"))], survive=("biology", "chemistry"), changes=False),
    c("keep-7", "distractor", [("2024-03-01", "I'm allergic to nuts."), ("2024-03-02", "I'm not allergic to eggs.")],
      [P("What am I allergic to?", ("nuts",))], survive=("nuts", "eggs"), changes=False),
    c("keep-8", "distractor", [("2024-01-05", "I work as a nurse."), ("2024-01-06", "I wanted to be a pilot.")],
      [P("What is my job?", ("nurse",))], survive=("nurse", "pilot"), changes=False),
]  # fmt: skip


# Held out: written after the rules were tuned on CONVERSATIONS and never used to change them.
# Reported separately, so the tuned figures can be told apart from what the rules generalise to.
HELD_OUT: list[Conversation] = [
    c("h-move-1", "move", [("2024-01-04", "I'm based in Hamburg."), ("2024-05-04", "I moved to Cologne in April.")],
      [P("Where do I live?", ("Cologne",), "Hamburg", "2024-02-01")]),
    c("h-move-2", "move", [("2024-02-10", "I live in a small flat in Porto."),
                           ("2024-03-01", "My best friend lives in Lisbon."),
                           ("2024-09-10", "We moved to Braga this summer.")],
      [P("Where do I live?", ("Braga",), "Porto", "2024-04-01")], survive=("Lisbon",)),
    c("h-move-3", "move", [("2024-01-20", "I live in Chicago."), ("2024-02-20", "I love Boston in the fall."),
                           ("2024-07-20", "I've relocated to Denver.")],
      [P("Where do I live?", ("Denver",), "Chicago", "2024-03-01")], survive=("Boston",)),
    c("h-job-1", "job", [("2024-01-08", "I work at Spotify as a designer."),
                         ("2024-06-08", "I now work at Figma.")],
      [P("Where do I work?", ("Figma",), "Spotify", "2024-02-01")]),
    c("h-job-2", "job", [("2024-01-15", "I work as an accountant."),
                         ("2024-04-15", "I started working as a data analyst last month.")],
      [P("What is my job?", ("data analyst",), "accountant", "2024-02-01")]),
    c("h-job-3", "job", [("2024-03-01", "I work for the city council."),
                         ("2024-03-05", "My sister works for the NHS."),
                         ("2024-08-01", "I work for a startup now.")],
      [P("Who do I work for?", ("startup",), "council", "2024-04-01")], survive=("NHS",)),
    c("h-med-1", "medication", [("2024-01-05", "I take amoxicillin for an infection."),
                                ("2024-01-20", "I stopped taking amoxicillin last week.")],
      [P("Am I taking amoxicillin?", ("stopped",), "infection", "2024-01-10")]),
    c("h-med-2", "medication", [("2024-02-01", "I use a nicotine patch."), ("2024-02-02", "I take zinc every day."),
                                ("2024-05-01", "I quit the nicotine patch.")],
      [P("Do I use a nicotine patch?", ("quit",), "use a nicotine patch", "2024-03-01")], survive=("zinc",)),
    c("h-allergy-1", "allergy", [("2024-01-10", "I'm allergic to aspirin."),
                                 ("2024-06-10", "Turns out I'm not allergic to aspirin anymore.")],
      [P("Am I allergic to aspirin?", ("not allergic",), "I'm allergic", "2024-02-01")]),
    c("h-allergy-2", "allergy", [("2024-02-02", "I'm allergic to bee stings."),
                                 ("2024-02-03", "My son is allergic to milk.")],
      [P("What is my son allergic to?", ("milk",))], survive=("bee", "milk"), changes=False),
    c("h-pet-1", "pet", [("2024-01-01", "My rabbit Bun is a Lionhead."),
                         ("2024-01-02", "Bun is a Rex, not a Lionhead.")],
      [P("What breed is Bun?", ("Rex",))]),
    c("h-pet-2", "pet", [("2024-03-03", "My dog is called Bruno."), ("2024-03-04", "Bruno loves the beach.")],
      [P("Where does my dog like to go?", ("beach",))], survive=("Bruno", "beach"), changes=False),
    c("h-repeat-1", "repeat", [("2024-01-01", "I play chess online."), ("2024-02-01", "I play chess online.")],
      [P("What game do I play?", ("chess",))], repeat="chess", changes=False),
    c("h-para-1", "paraphrase", [("2024-01-01", "I really enjoy baking bread."),
                                 ("2024-01-10", "I enjoy baking bread.")],
      [P("What do I enjoy?", ("bread",))], repeat="bread", changes=False),
    c("h-fix-1", "correction", [("2024-04-01", "The concert is on Saturday."),
                                ("2024-04-01", "Sorry, I meant Sunday.")],
      [P("When is the concert?", ("Sunday",))]),
    c("h-fix-2", "correction", [("2024-02-10", "My son is 12 years old."), ("2024-02-10", "I meant 13.")],
      [P("How old is my son?", ("13",))]),
    c("h-diet-1", "diet", [("2024-01-01", "I'm pescatarian."), ("2024-05-01", "I'm no longer pescatarian.")],
      [P("Am I pescatarian?", ("no longer",), "I'm pescatarian", "2024-02-01")]),
    c("h-partner-1", "partner", [("2024-01-10", "I'm married to Paul."), ("2024-08-10", "I married Kevin in July.")],
      [P("Who am I married to?", ("Kevin",), "Paul", "2024-03-01")]),
    c("h-age-1", "age", [("2023-02-01", "I'm 40 years old."), ("2024-02-02", "I'm 41 years old.")],
      [P("How old am I?", ("41",), "40", "2023-06-01")]),
    c("h-keep-1", "distractor", [("2024-01-01", "I live in Rome."), ("2024-01-02", "I'd love to live in Tokyo."),
                                 ("2024-01-03", "I visited Naples last year.")],
      [P("Where do I live?", ("Rome",))], survive=("Rome", "Tokyo", "Naples"), changes=False),
    c("h-keep-2", "distractor", [("2024-01-01", "I work at a hospital."), ("2024-01-02", "My dad worked at a bank.")],
      [P("Where do I work?", ("hospital",))], survive=("hospital", "bank"), changes=False),
]  # fmt: skip


# Development histories written for "Truth that holds on sentences nobody tuned for" (bench/truth/README.md).
TRUTH: list[Conversation] = load(Path(__file__).resolve().parents[1] / "truth" / "histories.json")
TRUTH3: list[Conversation] = load(Path(__file__).resolve().parents[1] / "truth3" / "histories.json")
