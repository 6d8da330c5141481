"""Held-out set D: a blind question set for `shelfcast ask`, written 2026-12-02 before any parser ran on it.

Why a fourth set: sets A, B and C have each been scored and their misses
seen, so none of them is blind any more; after the next parser change only an
unseen set measures how the parser reads phrasings nobody tuned it on. These
questions were written from the Query schema's fields (agent/ask/query.py,
that class only), the case format and conventions of the earlier sets, and the
built-in catalog (Complete Journey), without opening the parser's code, its
tests, the README's ask section beyond its example questions, or any bench
output. Neither the rules, the LLM form nor eval/bench_ask.py had run on a
single question here when it was committed.

Every product, category, department and store named here exists in the
catalog (read from its parquet files: titles, subcategory, category and
department texts, and the transactions' store ids), except the deliberately
unknown "surfboards" and the new products. A few are a manager's everyday word
for a catalog name rather than the name itself: "toilet paper" (TOILET
TISSUE), "sports drinks" (ISOTONIC DRINKS), "baby formula" (INFANT FORMULA),
"beer" (BEERS/ALES), "lunch meat" (LUNCHMEAT); brand words are the ones the
catalog's own texts carry ("pedigree", "ritz", "store brand" for its Private
brand).

Same conventions as the development set and sets A to C: the expected fields
are what a careful reader takes from the question; product texts as written,
lower case (typos kept; sizes, brands and flavours kept, sizes after the name
as the catalog's titles put them), without determiners or units of packing
("jars of", "bags of", "units of", "pounds of"); horizons in weekly periods: a
month is 4, a quarter 13, a fortnight 2, a year 52, days rounded up to weeks
(30 days is 5, 10 days is 2, next-day delivery is 1); None where the question
gives none (a launch date is not a horizon); lead times in the same weekly
periods; service levels as fractions, whether written "98%", "99 pct",
"ninety-nine percent", ".97", "a 2% chance of a stockout" (0.98) or "running
out 1 time in 20" (0.95); stock on hand as a count, whether written "30 on
hand", "SOH 120", "1,200 units", "two dozen" or "completely out" (0). Extra
fields are checked only where given, as in the other sets. Questions whose
reading was genuinely open (a price "3 for a dollar", "20% off" with no base
price, a horizon "this month") were rewritten before commit, not guessed.

Rule: a case is never edited to make a parser pass it. A case that a careful
reader would read differently may be corrected, with the reason in the commit
message; the first score stands as the blind measure either way.
"""

from __future__ import annotations

from ask_questions import Case

HELDOUT_D: list[Case] = [
    # forecasts: other verbs, units and phrasings, generic words
    Case("ballpark me avocado sales for the next 3 weeks", "forecast", ["avocado"], 3),
    Case("toilet paper demand next 30 days", "forecast", ["toilet paper"], 5),
    Case("need a forecast on chicken breast for the upcoming fortnight", "forecast", ["chicken breast"], 2),
    Case("How much ground turkey do you see us selling through the next quarter?", "forecast", ["ground turkey"], 13),
    Case("what's the sales projection on limes for the next 9 wks", "forecast", ["limes"], 9),
    Case("projected volume for frozen french fries next week", "forecast", ["frozen french fries"], 1),
    Case("forecast shampoo 21 days out", "forecast", ["shampoo"], 3),
    Case("lunch meat - how many will we move over the next eight weeks?", "forecast", ["lunch meat"], 8),
    Case("Sales forecast please: granola bars, 7 weeks", "forecast", ["granola bars"], 7),
    Case("give me a year-ahead forecast for watermelons", "forecast", ["watermelons"], 52),
    Case("what kind of numbers should I expect from baby food over 2 weeks?", "forecast", ["baby food"], 2),
    Case("anticipated demand for instant oatmeal", "forecast", ["instant oatmeal"]),
    Case("onions, next 6 weeks, how many?", "forecast", ["onions"], 6),
    # specific items: size, brand, flavour
    Case("expected units of butter 1 lb over the next 4 weeks", "forecast", ["butter 1 lb"], 4),
    Case("how's bologna 16 oz looking for the next 5 weeks", "forecast", ["bologna 16 oz"], 5),
    Case("sales forecast for pedigree dog food 13.2 oz over the next month", "forecast",
         ["pedigree dog food 13.2 oz"], 4),
    Case("ritz crackers 16 oz - projected unit sales next fortnight", "forecast", ["ritz crackers 16 oz"], 2),
    Case("how many x-large eggs 1 dz will we sell in 10 days", "forecast", ["x-large eggs 1 dz"], 2),
    Case("forecast decaf ground coffee for the coming 3 weeks", "forecast", ["decaf ground coffee"], 3),
    Case("russet potatoes 5 lb: what'll we sell in the next 2 weeks?", "forecast", ["russet potatoes 5 lb"], 2),
    Case("mini peeled carrots 1 lb, expected sales over 4 wks", "forecast", ["mini peeled carrots 1 lb"], 4),
    Case("store brand tuna 6 oz, how many units will sell next month?", "forecast", ["store brand tuna 6 oz"], 4),
    # typos, capitals, ids, several products, unknown products
    Case("mushrooms forecsat, 3 weeks ahead please", "forecast", ["mushrooms"], 3),
    Case("how many bannanas next fortnigt", "forecast", ["bannanas"], 2),
    Case("predicted sails of oranges in the next 4 weeeks", "forecast", ["oranges"], 4),
    Case("Forecast Hot Dogs Over The Next Six Weeks", "forecast", ["hot dogs"], 6),
    Case("product id 916122: units for the coming 3 weeks", "forecast", ["916122"], 3),
    Case("forecasts for lemons, limes and avocados over the next fortnight", "forecast",
         ["lemons", "limes", "avocados"], 2),
    Case("any demand for surfboards expected over the next month?", "forecast", ["surfboards"], 4),
    # revenue
    Case("how many dollars will ice cream bring in over the next 5 weeks", "forecast", ["ice cream"], 5,
         extra={"measure": "revenue"}),
    Case("revenue outlook for cigarettes, next quarter", "forecast", ["cigarettes"], 13,
         extra={"measure": "revenue"}),
    Case("$ forecast, pork, 3 weeks out", "forecast", ["pork"], 3, extra={"measure": "revenue"}),
    Case("how much will we ring up in deodorant sales over the next month", "forecast", ["deodorant"], 4,
         extra={"measure": "revenue"}),
    Case("sales in dollars, bbq sauce 18 oz, next week", "forecast", ["bbq sauce 18 oz"], 1,
         extra={"measure": "revenue"}),
    Case("gross sales (dollars, not units) for baby wipes over the next 6 weeks", "forecast", ["baby wipes"], 6,
         extra={"measure": "revenue"}),
    Case("how much cash will energy drinks generate in 2 weeks", "forecast", ["energy drinks"], 2,
         extra={"measure": "revenue"}),
    # stores
    Case("store 321 - how many tomatoes next week?", "forecast", ["tomatoes"], 1, "321"),
    Case("in store #424, how much ground coffee will we sell over 8 weeks", "forecast", ["ground coffee"], 8, "424"),
    Case("how many hamburger buns will store 31862 sell in the next month", "forecast", ["hamburger buns"], 4,
         "31862"),
    Case("location 369 string cheese, how many over 3 weeks", "forecast", ["string cheese"], 3, "369"),
    Case("store no. 422 revenue from beef next fortnight", "forecast", ["beef"], 2, "422",
         extra={"measure": "revenue"}),
    Case("how many jars of pasta sauce will store 429 sell in the next 5 weeks", "forecast", ["pasta sauce"], 5,
         "429"),
    # several products compared
    Case("over the next month are we selling more potato chips or more tortilla chips?", "compare",
         ["potato chips", "tortilla chips"], 4),
    Case("put ham, bologna and salami side by side for the next 3 weeks", "compare", ["ham", "bologna", "salami"],
         3),
    Case("how do lemons and limes compare over 2 weeks", "compare", ["lemons", "limes"], 2),
    Case("shampoo versus conditioner, next 6 wks", "compare", ["shampoo", "conditioner"], 6),
    Case("which will earn more over a quarter: beef, pork, chicken or turkey?", "compare",
         ["beef", "pork", "chicken", "turkey"], 13, extra={"measure": "revenue"}),
    Case("cat food against dog food, 5 week outlook", "compare", ["cat food", "dog food"], 5),
    Case("is butter going to outsell margarine next week?", "compare", ["butter", "margarine"], 1),
    Case("compre gala apples vs navel oranges, next fortnight", "compare", ["gala apples", "navel oranges"], 2),
    Case("at store 323, which moves more: wheat bread or white bread?", "compare", ["wheat bread", "white bread"],
         None, "323"),
    Case("which of these sells best over 4 weeks: instant oatmeal, granola bars, cold cereal", "compare",
         ["instant oatmeal", "granola bars", "cold cereal"], 4),
    # price what-ifs
    Case("avocados at 99 cents each: what does that do to sales?", "what_if_price", ["avocados"], None, None, 0.99),
    Case("if we bump ground turkey up to $4.49, how many would sell over the next 3 weeks", "what_if_price",
         ["ground turkey"], 3, None, 4.49),
    Case("suppose bologna 16 oz goes on sale at $1.50, how many units over the next 2 weeks?", "what_if_price",
         ["bologna 16 oz"], 2, None, 1.5),
    Case("what if we charged 25¢ for limes", "what_if_price", ["limes"], None, None, 0.25),
    Case("drop shampoo to $2.99, effect on next month's sales?", "what_if_price", ["shampoo"], 4, None, 2.99),
    Case("at $5 a pound, how many pounds of chicken breast would we sell next week", "what_if_price",
         ["chicken breast"], 1, None, 5.0),
    Case("raise ice cream price to 4.79 - what's the unit impact over six weeks", "what_if_price", ["ice cream"], 6,
         None, 4.79),
    Case("store 410: what if cigarettes cost $7.25 a pack?", "what_if_price", ["cigarettes"], None, "410", 7.25),
    Case("wat if baby wipes were priced at $2", "what_if_price", ["baby wipes"], None, None, 2.0),
    Case("what would pasta sauce revenue be over the next 4 weeks at $1.99?", "what_if_price", ["pasta sauce"], 4,
         None, 1.99, extra={"measure": "revenue"}),
    Case("lowering hot dog buns to 89 cents - how many more would we sell in a fortnight?", "what_if_price",
         ["hot dog buns"], 2, None, 0.89),
    Case("if watermelon was 3.99 each, how many would go this week?", "what_if_price", ["watermelon"], 1, None,
         3.99),
    # reorders: lead times, service levels and stock on hand phrased several ways
    Case("how many avocados should I order, lead time 4 days, 30 on hand", "reorder", ["avocados"],
         extra={"lead_time": 1, "on_hand": 30.0}),
    Case("order qty for ground turkey? delivery takes two weeks and I want 98% service", "reorder",
         ["ground turkey"], extra={"lead_time": 2, "service_level": 0.98}),
    Case("how much baby formula should we order - supplier needs 12 days, we've got 18 cans", "reorder",
         ["baby formula"], extra={"lead_time": 2, "on_hand": 18.0}),
    Case("toilet paper needs restocking. three-week lead, aiming for 90% service", "reorder", ["toilet paper"],
         extra={"lead_time": 3, "service_level": 0.9}),
    Case("I've got 45 bags of frozen vegetables left; what should I order if the truck takes a week?", "reorder",
         ["frozen vegetables"], extra={"lead_time": 1, "on_hand": 45.0}),
    Case("reorder for cat food at store 424 - SOH 120, LT 2 wks", "reorder", ["cat food"], None, "424",
         extra={"lead_time": 2, "on_hand": 120.0}),
    Case("how many lemons to order? I can live with running out 1 time in 20", "reorder", ["lemons"],
         extra={"service_level": 0.95}),
    Case("order recommendation for cigarettes, next-day delivery, 99 pct service", "reorder", ["cigarettes"],
         extra={"lead_time": 1, "service_level": 0.99}),
    Case("reorder bbq sauce; we're completely out", "reorder", ["bbq sauce"], extra={"on_hand": 0.0}),
    Case("how much dog food should I reorder with a 2% chance of a stockout and 5 days lead time", "reorder",
         ["dog food"], extra={"service_level": 0.98, "lead_time": 1}),
    Case("what quantity of shampoo do we order? inventory is 1,200 units, lead time three weeks, service level "
         "ninety-nine percent", "reorder", ["shampoo"],
         extra={"on_hand": 1200.0, "lead_time": 3, "service_level": 0.99}),
    Case("replenish granola bars: vendor ships in 10 days, two dozen on the shelf", "reorder", ["granola bars"],
         extra={"lead_time": 2, "on_hand": 24.0}),
    Case("do we need to reorder salad mix? 36 in the cooler, lead time 1 wk", "reorder", ["salad mix"],
         extra={"on_hand": 36.0, "lead_time": 1}),
    Case("reordr string cheese, service level .97", "reorder", ["string cheese"], extra={"service_level": 0.97}),
    Case("how many cases of sports drinks to order for store 31782, lead time 2 weeks, 95% in-stock target",
         "reorder", ["sports drinks"], None, "31782", extra={"lead_time": 2, "service_level": 0.95}),
    # trend reports: departments, categories and stores named loosely
    Case("trend report: produce dept", "trend_report", [], extra={"category": "produce"}),
    Case("how has the meat department been trending the last few months?", "trend_report", [],
         extra={"category": "meat"}),
    Case("what's growing in frozen pizza and what's falling off?", "trend_report", [],
         extra={"category": "frozen pizza"}),
    Case("any trends in baby foods i should know about", "trend_report", [], extra={"category": "baby foods"}),
    Case("give me a rundown of the deli, next 8 weeks", "trend_report", [], 8, extra={"category": "deli"}),
    Case("hair care products trend report for store 330", "trend_report", [], None, "330",
         extra={"category": "hair care products"}),
    Case("which products are rising and which are falling at store 424?", "trend_report", [], None, "424"),
    Case("trnd report for the cold and flu aisle", "trend_report", [], extra={"category": "cold and flu"}),
    Case("how's beer trending lately", "trend_report", [], extra={"category": "beer"}),
    Case("summary of the nutrition department's movers and shakers", "trend_report", [],
         extra={"category": "nutrition"}),
    Case("cereal trends over the next quarter", "trend_report", [], 13, extra={"category": "cereal"}),
    Case("trend overview for greeting cards", "trend_report", [], extra={"category": "greeting cards"}),
    # new products: titles, prices, launch dates (not horizons), revenue, stores
    Case("we're about to stock a new oat milk 64 oz at $3.79 - how many will sell in the first month?",
         "new_product", [], 4, None, 3.79, extra={"title": "oat milk 64 oz"}),
    Case("launch on the 15th: spicy pickle chips 8 oz, priced $2.99. sales for the first 6 weeks?", "new_product",
         [], 6, None, 2.99, extra={"title": "spicy pickle chips 8 oz"}),
    Case("new item forecast: sea salt dark chocolate bar 3.5 oz", "new_product", [],
         extra={"title": "sea salt dark chocolate bar 3.5 oz"}),
    Case("if we bring in a private label sparkling water 12 pk for 4.99, what do the first 8 weeks look like?",
         "new_product", [], 8, None, 4.99, extra={"title": "private label sparkling water 12 pk"}),
    Case("new product launching next month - gluten free bagels 6 ct, $4.29, forecast a quarter", "new_product",
         [], 13, None, 4.29, extra={"title": "gluten free bagels 6 ct"}),
    Case("revenue estimate for a brand-new cold brew coffee 32 oz at $5.99 over 4 weeks", "new_product", [], 4,
         None, 5.99, extra={"title": "cold brew coffee 32 oz", "measure": "revenue"}),
    Case("store 369 is getting a new frozen breakfast burrito 5 oz; how many would it sell over 3 weeks?",
         "new_product", [], 3, "369", extra={"title": "frozen breakfast burrito 5 oz"}),
    Case("how would a new 'everything bagel seasoning 2.3 oz' sell at $3.49?", "new_product", [], None, None,
         3.49, extra={"title": "everything bagel seasoning 2.3 oz"}),
]
