//! The weighted phrases of the injection detector, matched on normalized text (lowercase,
//! invisible characters removed, look-alike letters folded, whitespace collapsed).

use super::Feature;

/// One phrase rule.
pub(crate) struct Rule {
    pub feature: Feature,
    pub weight: f64,
    pub regex: &'static str,
}

const fn r(feature: Feature, weight: f64, regex: &'static str) -> Rule {
    Rule {
        feature,
        weight,
        regex,
    }
}

use Feature::{Delimiter, Exfiltration, Indirect, Override, RolePlay};

/// Verbs that tell a model to drop what it was told.
macro_rules! drop_verb {
    () => {
        r"(?:ignore|disregard|forget|forget about|skip|bypass|override|neglect|discard|drop|abandon|throw out|set aside|pay no attention to|never ?mind|scrap|erase|wipe|get rid of|turn off|disable|deactivate|suspend|lift|remove|circumvent)"
    };
}

/// What a model was told.
macro_rules! told {
    () => {
        r"(?:instructions?|prompts?|directives?|directions|rules|guidelines|commands|programming|constraints|guardrails|restrictions|system message|context)"
    };
}

/// Whatever guides a model: its instructions, rules, prompt, training, restrictions.
macro_rules! guidance {
    () => {
        concat!(
            r"(?:(?:your|the model's|the assistant's|the ai's|its) (?:\w+ ){0,2}",
            r"(?:instructions|directions|directives|rules|guidelines|policies|programming|training|restrictions|constraints|filters|guardrails|limitations|ethics|principles|system prompt|prompt|safety|setup)",
            r"|(?:previous|prior|earlier|above|preceding|original|initial|old|system|developer) (?:instructions|directions|directives|prompts?|rules|guidelines|context)",
            r"|(?:safety|ethical|content) (?:training|guidelines|policies|constraints|restrictions|rules)",
            r"|(?:instructions|rules|guidelines) (?:from|by|of) (?:your|the) (?:developers?|creators?|operators?|company|makers?)",
            r"|everything (?:you've|you have|you were|you had) (?:been )?(?:told|given|taught|instructed))\b"
        )
    };
}

pub(crate) const RULES: &[Rule] = &[
    // Instruction override: a dismissal and what guides the model, in one sentence.
    r(
        Override,
        0.75,
        concat!(r"\b", drop_verb!(), r"\b[^.!?\n;]{0,40}?\b", guidance!()),
    ),
    r(
        Override,
        0.75,
        concat!(
            r"\b",
            guidance!(),
            r"[^.!?\n;]{0,40}?\b(?:(?:is|are|was|were|now|has been|have been) )?(?:void|cancell?ed|revoked|suspended|lifted|obsolete|invalid|null and void|no longer (?:apply|applies|valid|active|in effect|matter))\b"
        ),
    ),
    r(
        Override,
        0.3,
        r"\b(?:blank slate|start over|fresh start|clean slate)\b",
    ),
    r(
        Override,
        0.45,
        r"\b(?:your|the) real (?:task|job|instructions?|goal|objective) (?:is|are)\b",
    ),
    r(
        Override,
        0.5,
        r"\bobey (?:every|all|any|each) (?:commands?|orders?|requests?|instructions?)\b",
    ),
    r(
        Override,
        0.85,
        concat!(
            r"\b",
            drop_verb!(),
            r"\b[^.!?\n]{0,30}?\b(?:previous|prior|preceding|above|earlier|former|initial|original|old|existing|system|developer|all (?:of )?(?:the|your))\b[^.!?\n]{0,20}?\b",
            told!(),
            r"\b"
        ),
    ),
    r(
        Override,
        0.75,
        concat!(
            r"\b",
            drop_verb!(),
            r" (?:all |any |of )?your ",
            r"(?:rules|guidelines|instructions|programming|restrictions|filters|safety|policies|policy|training|ethics|principles|limitations)\b"
        ),
    ),
    r(
        Override,
        0.8,
        concat!(
            r"\b(?:ignore|disregard|forget) (?:everything|all|anything|whatever)",
            r" (?:above|before|said before|prior|previously|you (?:were|have been) (?:told|given))"
        ),
    ),
    r(
        Override,
        0.8,
        r"\b(?:do not|don't|never|stop) (?:follow|following|obey|obeying|listen to|listening to) (?:your|the|any) (?:previous|prior|original|initial|system|developer|earlier|safety)\b",
    ),
    r(
        Override,
        0.8,
        r"\b(?:stop|cease) following (?:your|the|all|any) (?:rules|instructions|guidelines|programming)",
    ),
    r(
        Override,
        0.75,
        r"\b(?:previous|above|prior|earlier|original) (?:instructions|prompt|rules) (?:were|was|are|is) (?:just )?(?:a test|fake|wrong|void|cancell?ed|obsolete|outdated|no longer (?:valid|active|apply))",
    ),
    r(
        Override,
        0.7,
        r"\boverride (?:your|the|all|any) (?:safety|content|security|ethical|system)\b",
    ),
    r(
        Override,
        0.8,
        concat!(
            r"\b",
            drop_verb!(),
            r" (?:the|your|any) (?:system|developer) (?:message|prompt)s?\b"
        ),
    ),
    r(
        Override,
        0.75,
        concat!(
            r"\b",
            drop_verb!(),
            r" (?:all |any |every )?(?:safety|security|ethical|content) (?:rules|guidelines|policies|filters|restrictions|measures|settings|training)\b"
        ),
    ),
    r(
        Override,
        0.35,
        r"\bobey (?:only )?(?:me|my commands|the user)\b",
    ),
    r(
        Override,
        0.45,
        r"\bnew (?:instructions?|rules|directives?|system prompt)\s?:",
    ),
    r(
        Override,
        0.4,
        r"\byour new (?:task|instructions?|role|rules|objective|goal) (?:is|are)\b",
    ),
    r(Override, 0.3, r"\bfrom now on\b"),
    // Role-play jailbreaks.
    r(RolePlay, 0.9, r"\bdo anything now\b"),
    r(
        RolePlay,
        0.7,
        r"\b(?:you are|you're|act as|acting as|pretend to be|respond as|answer as|become|play|roleplay as|role-play as) (?:now )?(?:dan|stan|dude|aim|evilbot|evil ?gpt|developer mode|an? (?:evil|rogue) (?:ai|assistant|bot))\b",
    ),
    r(
        RolePlay,
        0.8,
        r"\b(?:dan|stan|dude|aim|god|jailbreak|unrestricted|evil) mode\b",
    ),
    r(
        RolePlay,
        0.8,
        r"\bpretend[^.!?\n]{0,40}\b(?:no|without|free of|free from|not bound by|not restricted by)\b[^.!?\n]{0,20}\b(?:restrictions|rules|limits|limitations|filters|guidelines|policies|censorship|ethics|morals|boundaries)\b",
    ),
    r(
        RolePlay,
        0.45,
        r"\b(?:without|no|free of|free from|ignoring) (?:any |all )?(?:restrictions|filters|censorship|limitations|content polic(?:y|ies)|(?:ethical|moral|safety) (?:guidelines|constraints|limits|boundaries|compass))\b",
    ),
    r(
        RolePlay,
        0.7,
        r"\b(?:unfiltered|uncensored|unrestricted|unaligned|jailbroken|amoral|unethical|evil|rogue) (?:ai|assistant|model|chatbot|bot|version|persona|llm|gpt)\b",
    ),
    r(
        RolePlay,
        0.7,
        r"\b(?:ai|model|assistant|bot|chatbot|gpt|llm|version of yourself|persona|character)s?\b[^.!?\n]{0,40}\b(?:with|has|have|had|having|that has)\b (?:no|zero|none of (?:the|its)|absolutely no)\b[^.!?\n]{0,20}\b(?:restrictions|limits|filters|rules|guidelines|ethics|morals|censorship|boundaries|limitations|policies)\b",
    ),
    r(
        RolePlay,
        0.6,
        r"\bif you (?:had|have|were given) no (?:\w+ )?(?:restrictions|limits|filters|rules|guidelines|ethics|morals|censorship|boundaries|limitations|policies)\b",
    ),
    r(
        RolePlay,
        0.4,
        r"\b(?:sudo|root|admin|god|chaos|unlocked|unrestricted|maintenance|debug) mode (?:is )?(?:on|enabled|activated|engaged)\b|\b(?:enter|activate|enable|switch to|turn on)\w{0,3} (?:sudo|root|god|chaos|unlocked|unrestricted|jailbreak) mode\b",
    ),
    r(
        RolePlay,
        0.45,
        r"\bno (?:rules|restrictions|limits|filters|policies|guidelines|censorship)\b,? (?:and )?no (?:rules|restrictions|limits|filters|policies|guidelines|censorship|ethics|morals)\b",
    ),
    r(
        RolePlay,
        0.4,
        r"\bwithout (?:refusing|refusal|hesitation|question|objection)\b",
    ),
    r(
        RolePlay,
        0.6,
        r"\bdeveloper mode (?:enabled|activated|output)\b",
    ),
    r(RolePlay, 0.25, r"\bjailbr(?:eak|oken|eaking)\b"),
    r(
        RolePlay,
        0.8,
        r"\byou(?: are|'re)(?: now)? (?:no longer|not) (?:bound|restricted|limited|constrained|governed) by\b",
    ),
    r(RolePlay, 0.2, r"\byou are now\b"),
    r(RolePlay, 0.3, r"\b(?:stay|remain|staying) in character\b"),
    r(
        RolePlay,
        0.45,
        r"\b(?:never|don't|do not|will not|won't|must not|cannot) (?:refuse|decline|say no|apologi[sz]e|add (?:any )?(?:warnings?|disclaimers?))\b",
    ),
    r(
        RolePlay,
        0.5,
        r"\b(?:you|ai|it|model|assistant)\b[^.!?\n]{0,20}\b(?:broken|break|broke) free\b|\bescaped? (?:your|the|its) (?:matrix|confines|restrictions|programming)\b",
    ),
    r(
        RolePlay,
        0.7,
        r"\b(?:act|roleplay|role-play|pretend|play|impersonate)\b[^.!?\n]{0,20}\b(?:deceased|dead|late) grand(?:mother|ma|father|pa)\b",
    ),
    r(RolePlay, 0.25, r"\blet'?s play a game\b"),
    // System prompt exfiltration.
    r(
        Exfiltration,
        0.75,
        r"\b(?:what|tell me|show me|give me|reveal|print|output|display|repeat|share|leak|dump|list|write|type out|echo|translate|summari[sz]e|recite|disclose|paste|spell out|reply with|respond with|quote|reproduce|include|encode|convert)\w{0,3}\b[^.!?\n]{0,30}\b(?:your|its) (?:own )?(?:system |initial |original |hidden |secret |internal |full |complete |exact |first |underlying |confidential |pre-?)?(?:prompt|instructions|directives|system message|developer message|configuration|guidelines|rules|context)\b",
    ),
    r(
        Exfiltration,
        0.45,
        r"\b(?:reveal|leak|dump|expose|exfiltrate|disclose)\b[^.!?\n]{0,30}\b(?:confidential|secret|private|sensitive|hidden)\b",
    ),
    r(
        Exfiltration,
        0.6,
        r"\b(?:instructions|prompt|rules|directives) (?:that )?you (?:were|have been|'ve been) (?:given|told|programmed|instructed)\b",
    ),
    r(
        Exfiltration,
        0.6,
        r"\b(?:reveal|print|output|display|repeat|leak|dump|show me|tell me|echo|recite|disclose|paste|spell out)\b[^.!?\n]{0,30}\bthe (?:system|initial|original|hidden|secret|internal|developer|confidential) (?:prompt|instructions|message|directives)\b",
    ),
    r(
        Exfiltration,
        0.8,
        r"\b(?:repeat|print|output|copy|reproduce|recite|echo)\b (?:back )?(?:all |every word of |the |all of |everything |the words |the text |the content |the lines )*(?:text |words |content |lines |messages? |conversation |instructions )?(?:above|before this|so far|from the (?:start|beginning|top))\b",
    ),
    r(
        Exfiltration,
        0.6,
        r"\b(?:text|message|instructions|setup|prompt|context)s? (?:that )?you (?:received|got|were given|were sent|saw|read) (?:before|earlier|at the (?:start|beginning)|prior)\b",
    ),
    r(
        Exfiltration,
        0.25,
        r"\b(?:verbatim|word for word|word-for-word)\b",
    ),
    r(
        Exfiltration,
        0.6,
        r#"\b(?:begin|start)(?:ning|ing)? (?:your (?:answer|reply|response) )?with (?:the words? )?["'“]?you are\b"#,
    ),
    r(
        Exfiltration,
        0.6,
        r"\bwhat (?:were|was|have|had) you (?:been )?(?:told|instructed|programmed|given)\b",
    ),
    r(
        Exfiltration,
        0.2,
        r"\b(?:context window|system message|developer message|pre-?prompt|initial prompt|system prompt|hidden prompt)\b",
    ),
    // Chat-template and role delimiters.
    r(
        Delimiter,
        0.6,
        r"<\|?(?:im_start|im_end|endoftext|start_header_id|end_header_id|eot_id)\|?>",
    ),
    r(
        Delimiter,
        0.5,
        r"</?(?:system|sys|instructions?)>|<<\s?/?sys\s?>>|\[/?inst\]",
    ),
    r(
        Delimiter,
        0.5,
        r"(?:^|\n)\s?#{2,} ?(?:system|new instructions|admin)\b",
    ),
    r(
        Delimiter,
        0.6,
        r"\bend of (?:user )?(?:input|prompt|message)\b[^\n]{0,20}\b(?:begin|start) (?:system|admin|new|developer)\b",
    ),
    r(
        Delimiter,
        0.45,
        r"\b(?:system|admin|priority|security|developer) (?:override|update|notice|alert|instruction)s?\s?:",
    ),
    r(Delimiter, 0.5, r"\[(?:system|admin|developer|sys)\]"),
    r(
        Delimiter,
        0.5,
        r"(?:^|\n)\s?(?:system|admin|developer) (?:message|prompt|note)\s?:",
    ),
    // Instructions planted for a model in content it reads (indirect injection).
    r(
        Indirect,
        0.5,
        r"\b(?:(?:note|message|instructions?|attention) (?:to|for)|attention,?) (?:the |any |all )?(?:ai|llm|assistant|language model|chatbot|gpt|agent)s?\b",
    ),
    r(
        Indirect,
        0.5,
        r"\bif you(?: are|'re) an? (?:ai|llm|language model|assistant|chatbot|bot|agent)\b",
    ),
    r(
        Indirect,
        0.35,
        r"\bif you(?: are|'re) (?:reading|processing|summari[sz]ing) this\b",
    ),
    r(
        Indirect,
        0.3,
        r"\b(?:hey|hi|hello|dear|attention),? (?:ai|assistant|chatgpt|claude|gemini|model|llm|bot)\b",
    ),
    r(
        Indirect,
        0.6,
        r"\b(?:to|for) (?:the |any |all |every )?(?:ai|llm|language model|assistant|agent|chatbot)s? (?:reading|processing|summari[sz]ing|parsing|that reads|that summari[sz]es)\b",
    ),
    r(
        Indirect,
        0.6,
        r"\b(?:ai|llm) (?:assistants?|agents?|models?|systems?) (?:reading|processing|summari[sz]ing|parsing) this\b",
    ),
    r(
        Indirect,
        0.45,
        r"\bwhen (?:summari[sz]ing|reading|processing|translating) this (?:page|document|email|text|file|site|message)\b",
    ),
    r(
        Indirect,
        0.35,
        r"\b(?:send|email|forward|post|upload|exfiltrate|leak)\b[^.\n]{0,40}\b(?:credentials|passwords?|api keys?|conversation|chat history|conversation history|cookies|tokens|personal data|user'?s data|system prompt)\b",
    ),
];

/// Phrases that survive squashing (letters only, leetspeak folded), to catch
/// `i g n o r e  p r e v i o u s`, `1gn0re-prev1ous` and the like.
pub(crate) const SQUASHED: &[(Feature, &str)] = &[
    (
        Override,
        r"(?:ignore|disregard|forget)(?:all|any|the|your)?(?:previous|prior|above|earlier)(?:instructions|prompts|rules|directions)",
    ),
    (
        Exfiltration,
        r"(?:reveal|print|show|repeat)(?:me)?(?:your|the)(?:system|initial|hidden)(?:prompt|instructions)",
    ),
    (RolePlay, r"doanythingnow"),
];
