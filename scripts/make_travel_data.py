"""Build `data/travel.jsonl`, the bundled travel Q&A set, from hand-written fragments.

The output is deterministic: the same script always writes the same bytes, so the file's sha256 (which the
reuse cache keys on) only changes when this script does. Run: `python scripts/make_travel_data.py`.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "travel.jsonl"
SEED = 20261124

# One entry per destination: each value is a sentence or two written for this set.
PLACES: list[dict[str, str]] = [
    {
        "name": "Lisbon",
        "season": "Spring (March to May) and early autumn (September and October) bring warm days without the summer crowds.",
        "food": "Try a pastel de nata still warm from the oven, grilled sardines in June, and a bifana pork sandwich for a cheap lunch.",
        "transport": "The metro covers the main areas, and the old trams climb the hills; wear shoes with grip, because the stone pavements get slippery.",
        "highlight": "Wander the lanes of Alfama in the evening, then spend a morning in Belém for the monastery and the riverside tower.",
        "tip": "Many viewpoints (miradouros) are free, so plan a sunset at one instead of paying for a rooftop bar.",
        "days": "three",
        "daytrip": "Sintra, with its hilltop palaces, is about 40 minutes away by train.",
    },
    {
        "name": "Kyoto",
        "season": "Late March to early April for cherry blossom and November for autumn leaves are the most beautiful times, but also the busiest.",
        "food": "Look for yudofu (simmered tofu), a kaiseki dinner if the budget allows, and matcha sweets around the tea shops.",
        "transport": "City buses and a few rail lines reach most temples; a rechargeable IC card saves fumbling for coins.",
        "highlight": "Walk the torii gates of Fushimi Inari at dawn, before the tour groups arrive, and save an afternoon for the Higashiyama lanes.",
        "tip": "Many temples close around 4 or 5 pm, so start early and leave shopping for the evening.",
        "days": "three to four",
        "daytrip": "Nara, with its deer park and giant Buddha, is under an hour away by train.",
    },
    {
        "name": "Reykjavik",
        "season": "June to August gives long daylight and open highland roads; September to March is the season for northern lights.",
        "food": "Warm up with lamb soup, try skyr for breakfast, and expect restaurant prices well above most of Europe.",
        "transport": "There are no trains in Iceland, so most visitors rent a car or join day tours from the city.",
        "highlight": "Drive the Golden Circle for the geysers, the Þingvellir rift valley and the Gullfoss waterfall.",
        "tip": "Check the road and weather warnings every morning, because conditions can change within an hour.",
        "days": "four to seven",
        "daytrip": "The south coast, with black-sand beaches and waterfalls, makes a long but rewarding day trip.",
    },
    {
        "name": "Marrakech",
        "season": "March to May and October to November are pleasant; July and August are very hot inland.",
        "food": "Eat a slow-cooked tagine, couscous on Friday, and drink the sweet mint tea you will be offered everywhere.",
        "transport": "The medina is best explored on foot; for petit taxis, agree the fare or insist on the meter before you get in.",
        "highlight": "Watch Jemaa el-Fnaa square come alive at dusk, and find a quiet hour in one of the riad gardens.",
        "tip": "Dress modestly, keep small change for tips, and a polite but firm 'no, thank you' is enough with persistent sellers.",
        "days": "three",
        "daytrip": "The Atlas Mountains and the Ourika valley are an easy day out with a driver.",
    },
    {
        "name": "Mexico City",
        "season": "The dry season from October to May is the most comfortable; summer afternoons usually bring a heavy shower.",
        "food": "Tacos al pastor from a busy street stand, chilaquiles for breakfast and a tamal on the way to work are classics.",
        "transport": "The metro is very cheap and extensive but packed at rush hour; ride-hailing apps are a good option at night.",
        "highlight": "Spend a day in Chapultepec Park and the National Museum of Anthropology, then explore the Roma and Condesa neighbourhoods.",
        "tip": "The city sits at about 2,240 metres, so take the first day slowly and drink plenty of water.",
        "days": "four",
        "daytrip": "The pyramids of Teotihuacan are about an hour away; go early to beat the heat.",
    },
    {
        "name": "Hanoi",
        "season": "October to December and March to April are mild and fairly dry; winter can feel damp and cool.",
        "food": "Start with pho for breakfast, have bun cha for lunch, and finish with egg coffee in the Old Quarter.",
        "transport": "Walk the Old Quarter and use a ride-hailing app for longer trips; prices are shown before you book.",
        "highlight": "Stroll around Hoan Kiem Lake early in the morning, when locals exercise there, and then get lost in the Old Quarter.",
        "tip": "Cross the street at a slow, steady pace so motorbikes can read your path and flow around you.",
        "days": "two to three",
        "daytrip": "Ha Long Bay is best as an overnight cruise rather than a rushed day trip.",
    },
    {
        "name": "Cape Town",
        "season": "November to March is summer, warm and dry, though the wind can be strong; winter is green and rainy.",
        "food": "Join a braai if you are invited, try bobotie, and pair dinner with wine from the nearby valleys.",
        "transport": "Ride-hailing apps are the easiest way around; rent a car if you want to explore the peninsula at your own pace.",
        "highlight": "Take the cable car or hike up Table Mountain on a clear day, then drive to the Cape of Good Hope.",
        "tip": "The cable car closes in high wind, so go up on the first clear morning rather than waiting.",
        "days": "four to five",
        "daytrip": "The winelands of Stellenbosch and Franschhoek are under an hour's drive.",
    },
    {
        "name": "Edinburgh",
        "season": "May to September has the longest days; in August the festivals fill the city and prices rise sharply.",
        "food": "Try haggis at least once, order cullen skink (a smoked fish soup) on a cold day, and visit a local bakery.",
        "transport": "The centre is compact and walkable, though hilly; buses and a tram line cover the rest.",
        "highlight": "Climb Arthur's Seat for the view, then walk down the Royal Mile from the castle to the palace.",
        "tip": "Pack layers and a waterproof jacket in any season, because the weather changes several times a day.",
        "days": "two to three",
        "daytrip": "The Highlands are reachable on a long day tour, though staying a night there is more relaxed.",
    },
    {
        "name": "Rome",
        "season": "April to June and September to October are warm and lively; July and August are hot and crowded.",
        "food": "Order cacio e pepe or carbonara, grab supplì (fried rice balls) as a snack, and eat gelato from shops with muted colours.",
        "transport": "The centre is best on foot; the metro has only a few lines, so buses and trams fill the gaps.",
        "highlight": "Book timed tickets for the Colosseum and the Vatican Museums, and leave an evening for Trastevere.",
        "tip": "Refill your bottle at the free public drinking fountains that you will find all over the city.",
        "days": "three to four",
        "daytrip": "Ostia Antica, the ancient port of Rome, is a quiet alternative to Pompeii and close by train.",
    },
    {
        "name": "Bangkok",
        "season": "November to February is the cooler, drier season; April is the hottest month.",
        "food": "Try pad kra pao (holy basil stir-fry), a spicy som tam salad, and mango sticky rice for dessert.",
        "transport": "The Skytrain and the underground avoid the traffic, and river boats are a pleasant way to reach the old town.",
        "highlight": "Visit the Grand Palace and Wat Pho in the morning, then cross the river to Wat Arun at sunset.",
        "tip": "Temples expect covered shoulders and knees, so carry a light scarf or wear long trousers.",
        "days": "three",
        "daytrip": "The old capital of Ayutthaya, with its temple ruins, is an easy trip by train or minivan.",
    },
    {
        "name": "Vancouver",
        "season": "June to September is dry and mild; the rest of the year is rainy but rarely very cold.",
        "food": "Seafood is the highlight, from wild salmon to sushi, and the city has excellent Asian food in Richmond.",
        "transport": "The SkyTrain connects the airport with downtown, and buses and ferries cover the rest.",
        "highlight": "Cycle the Stanley Park seawall, then walk through Granville Island's public market.",
        "tip": "Bring a rain jacket outside summer; locals rarely let drizzle stop their plans.",
        "days": "three",
        "daytrip": "Whistler is a scenic two-hour drive along the Sea-to-Sky Highway.",
    },
    {
        "name": "Buenos Aires",
        "season": "October to December and March to May are mild; January is hot and many locals leave the city.",
        "food": "Share an asado at a parrilla, snack on empanadas, and try dulce de leche in almost any dessert.",
        "transport": "The Subte and buses are cheap with a rechargeable SUBE card; taxis and ride-hailing apps are widely used.",
        "highlight": "Spend a Sunday at the San Telmo market and watch tango in one of the neighbourhood's squares.",
        "tip": "Dinner starts late, often after 9 pm, so have a snack in the afternoon like the locals do.",
        "days": "four",
        "daytrip": "Tigre and its river delta are an hour away by train and make a relaxing escape.",
    },
    {
        "name": "Istanbul",
        "season": "April to May and September to November are the most comfortable; summer is hot and busy.",
        "food": "Start the day with simit, share meze plates in the evening, and try a fish sandwich by the Golden Horn.",
        "transport": "Trams, the metro and the ferries all take a rechargeable Istanbulkart; the ferries are also the best cheap cruise.",
        "highlight": "Visit Hagia Sophia and the Blue Mosque, then get lost in the Grand Bazaar and the spice market.",
        "tip": "Mosques ask visitors to cover shoulders and knees, and women to cover their hair; scarves are often lent at the door.",
        "days": "three to four",
        "daytrip": "The Princes' Islands, car-free and quiet, are a short ferry ride away.",
    },
    {
        "name": "Queenstown",
        "season": "December to February suits hiking and lake days; June to August is the ski season.",
        "food": "Try New Zealand lamb, green-lipped mussels and a famously large burger from one of the town's favourites.",
        "transport": "Renting a car or campervan gives the most freedom; remember that New Zealand drives on the left.",
        "highlight": "Take the gondola up for the view over Lake Wakatipu and try one of the many adventure activities.",
        "tip": "Mountain weather turns quickly, so carry a warm layer even on a sunny summer hike.",
        "days": "three to four",
        "daytrip": "Milford Sound is a long drive but one of the most striking fjords in the world; flying in is the quick option.",
    },
    {
        "name": "Seoul",
        "season": "April to May and September to November are mild and clear; summers are humid and winters are cold.",
        "food": "Grill your own meat at a Korean barbecue, try bibimbap, and snack on tteokbokki from a street stall.",
        "transport": "The subway is fast and clean; load a T-money card, which also works on buses and in convenience stores.",
        "highlight": "Walk through Gyeongbokgung Palace and the hanok houses of Bukchon, then spend an evening in a night market.",
        "tip": "Local map apps such as Naver Map or Kakao Map give better directions than global ones in Korea.",
        "days": "four",
        "daytrip": "The border area (DMZ) can be visited on an organised tour from the city.",
    },
    {
        "name": "Prague",
        "season": "May to September is warm and lively; December brings the Christmas markets.",
        "food": "Try svíčková (beef in a creamy vegetable sauce), goulash with dumplings, and the excellent local beer.",
        "transport": "Trams are frequent and the centre is walkable; tickets must be validated when you board.",
        "highlight": "Cross Charles Bridge early in the morning, then climb to the castle district for the view.",
        "tip": "Avoid street money changers and compare the actual rate you will receive before exchanging cash.",
        "days": "two to three",
        "daytrip": "Kutná Hora, with its unusual bone chapel, is about an hour away by train.",
    },
    {
        "name": "Cusco",
        "season": "May to September is the dry season and the best time for hiking in the Andes.",
        "food": "Try lomo saltado, a warming quinoa soup, and coca tea, which locals drink for the altitude.",
        "transport": "The centre is walkable but steep; trains and buses connect to the Sacred Valley and Machu Picchu.",
        "highlight": "Explore the Sacred Valley's markets and ruins before the visit to Machu Picchu.",
        "tip": "Cusco is about 3,400 metres high, so rest on arrival and book Machu Picchu and Inca Trail permits well ahead.",
        "days": "four to five",
        "daytrip": "The Rainbow Mountain is a tough but spectacular day hike at high altitude.",
    },
    {
        "name": "Amsterdam",
        "season": "April and May bring the tulips, and September is calm and pleasant; summer is the busiest.",
        "food": "Eat a warm stroopwafel, try raw herring if you are brave, and look for Indonesian rijsttafel.",
        "transport": "Rent a bike or use the trams; when walking, stay out of the red bike lanes.",
        "highlight": "Walk the canal ring, visit the Rijksmuseum, and book the Anne Frank House weeks in advance.",
        "tip": "Many places only accept cards, so cash is rarely needed.",
        "days": "two to three",
        "daytrip": "Haarlem and the windmills of Zaanse Schans are both easy half-day trips.",
    },
    {
        "name": "Singapore",
        "season": "It is hot and humid all year; November to January is the wettest period, with short, heavy showers.",
        "food": "Eat at a hawker centre: chicken rice, laksa and chilli crab are all worth trying.",
        "transport": "The MRT is clean and efficient, and you can tap a contactless bank card to ride.",
        "highlight": "Walk through Gardens by the Bay at night and explore the Chinatown and Kampong Glam neighbourhoods.",
        "tip": "Rules are strictly enforced, so never litter and do not eat or drink on the MRT.",
        "days": "three",
        "daytrip": "Pulau Ubin, a small island with a village atmosphere, is a quick boat ride away.",
    },
    {
        "name": "Barcelona",
        "season": "May to June and September to October are warm without the peak summer crowds.",
        "food": "Share tapas, order pa amb tomàquet (bread with tomato), and try a seafood paella by the sea.",
        "transport": "The metro is quick and covers the whole city; buy a multi-trip card to save money.",
        "highlight": "Book timed tickets for the Sagrada Família, then wander the Gothic Quarter and El Born.",
        "tip": "Pickpockets work the busiest streets and the metro, so keep your phone and wallet in front of you.",
        "days": "three to four",
        "daytrip": "Montserrat, a mountain monastery, is about an hour away by train.",
    },
    {
        "name": "the Maasai Mara",
        "season": "July to October is the usual time of the great wildebeest migration; the dry months also make animals easier to spot.",
        "food": "Lodges serve a mix of international dishes and Kenyan staples such as ugali and nyama choma (grilled meat).",
        "transport": "Most visitors arrive by light aircraft or road from Nairobi and explore in guided safari vehicles.",
        "highlight": "Early morning game drives give the best light and the most active animals.",
        "tip": "Ask a travel clinic about vaccinations and malaria protection several weeks before you leave.",
        "days": "three",
        "daytrip": "Lake Nakuru, known for its birds and rhinos, can be combined with the Mara on a longer route.",
    },
    {
        "name": "Dubrovnik",
        "season": "May to June and September are sunny with fewer people than the peak of summer.",
        "food": "Try black risotto made with cuttlefish ink, fresh grilled fish, and local olive oil.",
        "transport": "The old town is car-free; local buses connect it to the port and the beaches.",
        "highlight": "Walk the city walls early in the morning or late in the afternoon, when it is cooler.",
        "tip": "Check the cruise ship schedule and avoid the old town at midday on busy days.",
        "days": "two to three",
        "daytrip": "The island of Lokrum is a ten-minute boat ride, and Kotor in Montenegro is a longer day out.",
    },
    {
        "name": "Sydney",
        "season": "September to November and March to May are warm but not too hot; December to February is beach season.",
        "food": "Have a flat white and brunch, try a meat pie, and eat fresh seafood at the fish market.",
        "transport": "Trains, buses and ferries all accept contactless bank cards, and the ferry to Manly is a great ride.",
        "highlight": "Walk the coastal path from Bondi to Coogee and see the Opera House from the water.",
        "tip": "Swim between the red and yellow flags, which mark the areas watched by lifeguards.",
        "days": "four",
        "daytrip": "The Blue Mountains are about two hours away by train and have excellent walks.",
    },
    {
        "name": "Banff",
        "season": "June to September is the hiking season; December to March is for skiing and frozen lakes.",
        "food": "Expect hearty mountain food: bison burgers, poutine and plenty of warm drinks.",
        "transport": "A car is useful, but shuttles and public buses reach the busiest lakes, where parking fills early.",
        "highlight": "See Lake Louise and Moraine Lake early in the day, when the water is calm and the light is soft.",
        "tip": "You need a national park pass, and it is wise to carry bear spray on trails and know how to use it.",
        "days": "three to four",
        "daytrip": "The Icefields Parkway towards Jasper is one of the most scenic drives in the country.",
    },
    {
        "name": "Oaxaca",
        "season": "October to March is dry and sunny; the Day of the Dead celebrations at the start of November are special but busy.",
        "food": "Taste several kinds of mole, a crisp tlayuda, and mezcal sipped slowly rather than as a shot.",
        "transport": "The centre is walkable, and shared colectivos or tours reach the villages and ruins.",
        "highlight": "Visit the hilltop ruins of Monte Albán and the busy markets, especially the food stalls.",
        "tip": "Markets are busiest in the morning, which is also when the food is freshest.",
        "days": "three to four",
        "daytrip": "Hierve el Agua, with its petrified waterfalls, makes a memorable day trip.",
    },
    {
        "name": "Tbilisi",
        "season": "May to June and September to October are warm and pleasant; summers are hot.",
        "food": "Try khachapuri (cheese bread), khinkali dumplings, and the local wine made in clay vessels.",
        "transport": "The metro is cheap, and ride-hailing apps are inexpensive for longer trips.",
        "highlight": "Relax in the sulphur baths of the old town, then take the cable car up to the fortress.",
        "tip": "If you are invited to a supra, a traditional feast, expect many toasts and pace yourself.",
        "days": "three",
        "daytrip": "Mtskheta, the old capital with its hilltop monastery, is only 30 minutes away.",
    },
    {
        "name": "Hoi An",
        "season": "February to April is warm and dry; October and November can bring floods to the old town.",
        "food": "Try cao lau noodles, a banh mi from a famous stall, and white rose dumplings.",
        "transport": "Walk or rent a bicycle; the beaches are a short ride through the rice fields.",
        "highlight": "Walk the lantern-lit old town in the evening and cycle to the beach in the morning.",
        "tip": "Tailors can make clothes within a day or two, but allow time for a second fitting.",
        "days": "two to three",
        "daytrip": "The temple ruins of My Son are about an hour away; go early for cooler air.",
    },
    {
        "name": "Copenhagen",
        "season": "May to August has long, light evenings; winter is dark but cosy.",
        "food": "Try smørrebrød (open sandwiches), a cinnamon pastry, and the street food halls by the water.",
        "transport": "Cycling is the local way to get around; the metro runs around the clock.",
        "highlight": "Walk along Nyhavn, visit the Tivoli Gardens, and swim in the harbour baths in summer.",
        "tip": "Prices are high, so supermarket picnics and bakery breakfasts help the budget.",
        "days": "two to three",
        "daytrip": "The Louisiana Museum of Modern Art, north of the city, sits in a beautiful seaside park.",
    },
    {
        "name": "Petra",
        "season": "March to May and September to November are best; summer days are very hot in the canyon.",
        "food": "Try mansaf, the national dish of lamb with yoghurt sauce, and fresh falafel for a cheap lunch.",
        "transport": "Most visitors hire a driver or rent a car; buses between towns are limited.",
        "highlight": "Walk through the Siq at opening time to see the Treasury before the crowds.",
        "tip": "Plan for a lot of walking and climbing, and buy a combined entry pass if you visit several sites.",
        "days": "two",
        "daytrip": "Wadi Rum's desert, with a night in a camp, pairs well with Petra.",
    },
    {
        "name": "Porto",
        "season": "May to September is warm and dry; winters are mild but rainy.",
        "food": "Try a francesinha (a hearty sandwich in sauce), grilled fish, and a glass of port in a cellar.",
        "transport": "The metro and trams help on the hills, but most sights are close enough to walk.",
        "highlight": "Cross the Dom Luís I bridge to Vila Nova de Gaia for the port cellars and the view back.",
        "tip": "Bring comfortable shoes: the streets are steep and many are cobbled.",
        "days": "two to three",
        "daytrip": "The Douro valley's vineyards are beautiful by train, boat or car.",
    },
    {
        "name": "Kerala",
        "season": "October to March is dry and pleasant; the monsoon from June to September brings heavy rain.",
        "food": "Try appam with stew, fish curry, and a full meal served on a banana leaf.",
        "transport": "Trains connect the main towns; a driver is handy for the hill stations and backwaters.",
        "highlight": "Spend a night on a houseboat in the backwaters and visit the tea plantations of Munnar.",
        "tip": "Dress modestly when visiting temples and small towns, and remove your shoes where others do.",
        "days": "five to seven",
        "daytrip": "Fort Kochi's Chinese fishing nets and spice markets are worth a relaxed day.",
    },
    {
        "name": "Chiang Mai",
        "season": "November to February is cool and dry; from about February to April smoke from seasonal burning can cause haze.",
        "food": "Try khao soi, a curry noodle soup, and sai ua sausage at the markets.",
        "transport": "Shared red trucks (songthaews) and ride-hailing apps are cheap; agree the price for songthaews first.",
        "highlight": "Visit the temple of Doi Suthep on its hill and browse the Sunday walking street market.",
        "tip": "Choose elephant sanctuaries that do not offer riding or shows.",
        "days": "three to four",
        "daytrip": "The mountain town of Pai is a winding three-hour drive away and worth an overnight stay.",
    },
]

QUESTION_FORMS: dict[str, list[str]] = {
    "season": [
        "When is the best time to visit {name}?",
        "What time of year should I go to {name}?",
        "Which months are good for a trip to {name}?",
    ],
    "food": [
        "What should I eat in {name}?",
        "Which local dishes should I try in {name}?",
        "I'm visiting {name} soon. What food should I look out for?",
    ],
    "transport": [
        "How do I get around {name}?",
        "What is the best way to travel around {name}?",
        "Do I need a car in {name}?",
    ],
    "highlight": [
        "What should I not miss in {name}?",
        "What are the must-see sights in {name}?",
        "I only have a short time in {name}. What should I prioritise?",
    ],
    "tip": [
        "Any practical tips for visiting {name}?",
        "What do first-time visitors to {name} often get wrong?",
        "Is there anything I should know before going to {name}?",
    ],
    "daytrip": [
        "What is a good day trip from {name}?",
        "Where can I go for a day from {name}?",
    ],
}

ANSWER_LEADS: dict[str, list[str]] = {
    "season": ["", "", "It depends a little on what you want to do. "],
    "food": ["", "", "Good question. "],
    "transport": ["", "", ""],
    "highlight": ["", "If time is short, keep it simple. ", ""],
    "tip": ["", "Here is one that helps. ", ""],
    "daytrip": ["", "Here is a good one. ", ""],
}

ITINERARY_QUESTIONS = [
    "Can you suggest a {n}-day itinerary for {name}?",
    "How would you spend {n} days in {name}?",
    "Plan {n} days in {name} for me.",
]
NUMBER_WORDS = {2: "two", 3: "three"}

# Questions that do not depend on a destination, one answer each.
GENERAL: list[tuple[str, str]] = [
    # packing
    (
        "How can I travel for a week with only carry-on luggage?",
        "Plan outfits around two or three colours so everything matches, and pack for five days, washing clothes once along the way. Wear your bulkiest shoes and jacket on the plane, and use packing cubes to keep things compressed.",
    ),
    (
        "What should I pack for a rainy-season trip?",
        "Bring a light waterproof jacket, quick-drying clothes and sandals or shoes that cope with puddles. A dry bag or a few zip-lock bags keep your phone and documents safe in a downpour.",
    ),
    (
        "What do I need for a winter city break?",
        "Layers work better than one heavy coat: a thermal base layer, a warm mid-layer and a windproof outer jacket. Add a hat, gloves and waterproof shoes with good grip for icy pavements.",
    ),
    (
        "What are the essentials for a beach holiday?",
        "Pack high-factor sunscreen, a hat, sunglasses, a reusable water bottle and a light cover-up for walking into town. Reef-safe sunscreen is appreciated, and sometimes required, near coral reefs.",
    ),
    (
        "What should I bring on a multi-day hike?",
        "Start with broken-in boots, a rain shell, warm layers, a map or offline navigation, a first-aid kit and enough water or a way to treat it. Keep the pack light by sharing gear such as a stove with your group.",
    ),
    (
        "How do I pack for a business trip without wrinkles?",
        "Roll casual items but fold shirts and jackets around each other, and hang them up as soon as you arrive. A small travel steamer, or the bathroom steam from a hot shower, removes most creases.",
    ),
    (
        "What should I pack when travelling with a baby?",
        "Carry nappies, wipes, a change of clothes for the baby and for you, snacks, and any medicine in your hand luggage. Many destinations sell baby supplies, so you do not need to pack the whole stay's worth.",
    ),
    (
        "What goes in a basic travel first-aid kit?",
        "Plasters, blister patches, pain relief, antiseptic wipes, antihistamines, oral rehydration salts and any prescription medicine you take. Keep prescriptions in their original packaging, ideally with a copy of the prescription.",
    ),
    (
        "Which travel adapter should I buy?",
        "A universal adapter that covers the main plug types is the simplest choice, ideally with built-in USB ports. Check that your devices accept the local voltage; most phone and laptop chargers handle 100 to 240 volts.",
    ),
    (
        "Should I pack a towel?",
        "Most hotels provide towels, but a thin quick-drying travel towel is useful in hostels, at the beach and on hikes. It also doubles as a blanket on a cold train.",
    ),
    (
        "How many pairs of shoes should I take?",
        "Two pairs cover most trips: one comfortable pair for walking and one lighter pair, such as sandals or smarter shoes. Add hiking boots only if you plan real hikes.",
    ),
    (
        "What should I keep in my hand luggage on a long flight?",
        "Keep your passport, medicine, valuables, chargers, a change of clothes and anything you cannot replace with you. A refillable water bottle, a scarf and earplugs make the flight more comfortable.",
    ),
    (
        "Can I take liquids in my carry-on?",
        "Many airports limit liquids in hand luggage to small containers in a single clear bag, although some have newer scanners with looser rules. Check your departure airport's current rules, and remember that the return trip may differ.",
    ),
    (
        "Is a money belt worth it?",
        "A money belt or a hidden pouch is useful for storing a backup card and your passport in busy places. Keep a small amount of cash in an ordinary wallet so you are not reaching under your clothes in public.",
    ),
    (
        "What clothes work for visiting both temples and beaches?",
        "Pack light, loose trousers or a long skirt and a shirt that covers the shoulders, plus a scarf. You can wear them over swimwear and stay respectful when you visit religious sites.",
    ),
    # visas and documents
    (
        "How do I find out whether I need a visa?",
        "Check the official government website or embassy of the country you are visiting, because rules depend on your nationality and the purpose of your trip. Airline and travel agency summaries are helpful, but the official source has the final word.",
    ),
    (
        "How long should my passport be valid for travel?",
        "Many countries require your passport to be valid for several months beyond your planned departure date, often three or six. Check the rule for your destination and renew early if you are close to the limit.",
    ),
    (
        "What is an electronic travel authorisation?",
        "It is an online permission to travel that some countries require from visitors who do not need a full visa. You usually apply on an official website before departure, and approval is linked to your passport number.",
    ),
    (
        "How far in advance should I apply for a visa?",
        "Start as soon as your dates are fairly certain, because processing times vary from days to several weeks. Some countries also limit how early you can apply, so check both ends of the window.",
    ),
    (
        "What documents are usually needed for a tourist visa?",
        "Typically a valid passport, a recent photo, a completed application form, and sometimes proof of accommodation, onward travel and funds. The official embassy website lists the exact requirements for your nationality.",
    ),
    (
        "Can I work while travelling on a tourist visa?",
        "Generally no: tourist visas and visa-free entries rarely allow paid work. Some countries offer working-holiday or digital-nomad visas, so look for the right category before you go.",
    ),
    (
        "What happens if I overstay my visa?",
        "Overstaying can lead to fines, deportation or a ban on future visits, even for a short overstay. If your plans change, ask the immigration authorities about an extension before your permitted stay ends.",
    ),
    (
        "Should I carry copies of my documents?",
        "Yes, keep a photo of your passport, visa, insurance and bookings on your phone and in secure cloud storage. A paper copy kept separately from the originals helps if your phone is lost too.",
    ),
    (
        "Do I need a visa for a layover?",
        "It depends on the country, your nationality and whether you leave the airport's international area. Check the transit rules for the connecting country, especially if you have to change terminals or re-check bags.",
    ),
    (
        "Do children need their own passport?",
        "In most countries, yes: each child needs a passport of their own. If a child travels with only one parent, some countries ask for a signed letter of consent from the other parent.",
    ),
    (
        "Is travel insurance required for a visa?",
        "Some visas, such as those for the Schengen area, require proof of medical insurance with a minimum level of cover. Even when it is not required, insurance that covers medical care and cancellations is a wise buy.",
    ),
    # budgeting
    (
        "How do I set a daily travel budget?",
        "Research typical prices for a bed, three meals and local transport at your destination, add a margin for activities, and then add about 10 to 15 percent for surprises. Track spending in an app for the first few days and adjust.",
    ),
    (
        "What is the cheapest way to get local currency?",
        "Withdrawing from a bank ATM with a card that has low foreign fees is usually cheapest. Airport exchange counters tend to offer poor rates, so change only a small amount there if at all.",
    ),
    (
        "Should I pay in my home currency or the local currency when abroad?",
        "Choose the local currency. When a card terminal or ATM offers to charge you in your home currency, the conversion rate it uses is usually worse than your bank's.",
    ),
    (
        "How can I save money on accommodation?",
        "Stay slightly outside the centre near good public transport, book longer stays for weekly discounts, and compare prices with the property's own website. Guesthouses and apartments with kitchens also cut food costs.",
    ),
    (
        "How can I eat well on a tight travel budget?",
        "Make lunch your main meal, since many restaurants offer cheaper lunch menus, and eat where locals queue. Markets, bakeries and supermarkets are great for breakfast and picnics.",
    ),
    (
        "Are city passes worth buying?",
        "Add up the entry prices of the sights you really plan to visit and compare the total with the pass price. Passes pay off when you visit several paid sights a day and use the included transport.",
    ),
    (
        "When is it cheapest to book flights?",
        "There is no magic day, but booking a few weeks to a few months ahead and being flexible by a day or two usually helps. Price alerts let you watch a route without checking every day.",
    ),
    (
        "How do I avoid hidden costs with budget airlines?",
        "Read the baggage rules carefully, pay for bags online rather than at the airport, and check in online if the airline charges for airport check-in. Also check where the airport is, because a distant one adds transport costs.",
    ),
    (
        "Should I carry cash or cards when travelling?",
        "Carry both: a card with low foreign fees for most payments and some cash for markets, tips and places that do not take cards. Keep a backup card separate from your main wallet.",
    ),
    (
        "How much should I budget for unexpected costs?",
        "Set aside around 10 percent of your trip budget, or a fixed emergency sum, for things like a missed connection or a doctor's visit. Good travel insurance covers the big risks, but not every small surprise.",
    ),
    (
        "Is travelling in shoulder season cheaper?",
        "Usually yes: flights and hotels often cost noticeably less in the weeks just before and after the peak season. The weather is often still good, and the sights are less crowded.",
    ),
    (
        "How can I keep phone costs down abroad?",
        "Check your provider's roaming rates before leaving; a local SIM card or an eSIM data plan is often much cheaper. Download offline maps and turn off data roaming when you do not need it.",
    ),
    (
        "Do I need to tip in every country?",
        "No, tipping customs vary a lot: in some countries a service charge is included, while in others tips make up a large part of wages. Look up the local custom for restaurants, taxis and guides before you go.",
    ),
    # transport
    (
        "Are night trains a good way to travel?",
        "Night trains save a night of accommodation and a day of travel, and you arrive in the city centre. Book a couchette or sleeper for comfort, and keep valuables in your berth with you.",
    ),
    (
        "How early should I get to the airport?",
        "For international flights, two to three hours before departure is a common guideline; for domestic flights, about 90 minutes to two hours. Allow more time at busy airports or in holiday periods.",
    ),
    (
        "What should I check before renting a car abroad?",
        "Check whether you need an international driving permit, what the insurance excess is, and the fuel and mileage policy. Photograph the car from all sides before driving off and again when you return it.",
    ),
    (
        "Is it better to buy train tickets in advance?",
        "On many long-distance routes, early tickets are much cheaper and can sell out on busy days. Regional and commuter trains usually have fixed prices, so you can buy those on the day.",
    ),
    (
        "How do I deal with jet lag?",
        "Switch to local time as soon as you board, get daylight in the morning after arriving, and keep naps short. Drink water and go easy on alcohol and caffeine during the flight.",
    ),
    (
        "What can I do if my flight is cancelled?",
        "Ask the airline to rebook you and check what care they owe you, such as meals or a hotel. Depending on where you fly, you may also be entitled to compensation, so keep receipts and the cancellation notice.",
    ),
    (
        "What should I do if my luggage is lost?",
        "Report it at the airline's baggage desk before leaving the airport and keep the reference number. Keep receipts for essentials you buy while you wait, since the airline or your insurance may refund them.",
    ),
    (
        "Are ferries a good alternative to flying?",
        "Ferries can be slower but more relaxed, often allow more luggage, and offer views you would miss from the air. On overnight routes a cabin also replaces a night in a hotel.",
    ),
    (
        "How do I use public transport in a city I don't know?",
        "Download the local transit app or use a map app with transit directions, and check whether you can pay with a contactless card. Validate tickets where required, because inspectors often fine visitors.",
    ),
    (
        "Is it safe to take long-distance buses?",
        "In many countries long-distance buses are safe, cheap and comfortable, especially with well-known companies. Choose reviewed operators, keep valuables with you rather than in the hold, and prefer daytime trips on mountain roads.",
    ),
    (
        "Should I use ride-hailing apps abroad?",
        "They are often convenient because the price is shown in advance and the trip is tracked. Check which app is popular locally, since it varies by country, and confirm the plate number before you get in.",
    ),
    (
        "What is the best seat for a long flight?",
        "An aisle seat makes it easier to stretch and walk around, while a window seat is better for sleeping undisturbed. Seats near the front leave the plane first, which helps with tight connections.",
    ),
    (
        "How much time should I leave for a connecting flight?",
        "For international connections, at least two hours is a comfortable buffer, and more if you have to change terminals or clear immigration. Flights on a single ticket usually protect you if the first flight is late.",
    ),
    (
        "Is it worth renting a scooter on holiday?",
        "Only if you are an experienced rider, have the right licence and your insurance covers it. Always wear a helmet, as scooter accidents are a common cause of injuries for travellers.",
    ),
    # food
    (
        "Is street food safe to eat?",
        "Street food is often very safe when it is cooked fresh and hot in front of you. Choose busy stalls with a high turnover, and be more careful with raw salads, peeled fruit and ice in places with unsafe tap water.",
    ),
    (
        "How do I manage a food allergy abroad?",
        "Carry a card in the local language that explains your allergy clearly, and bring your own medication, such as an adrenaline auto-injector if prescribed. Simple dishes where you can see the ingredients are the safest choice.",
    ),
    (
        "Can I drink tap water when I travel?",
        "It depends on the country and sometimes the city; check a reliable health source for your destination. Where tap water is not safe, use sealed bottled water or a filter bottle, and be careful with ice.",
    ),
    (
        "How do I find good local restaurants?",
        "Walk a few streets away from the main sights, look for places full of locals, and check menus written only in the local language. Asking your host or a market vendor often works better than online rankings.",
    ),
    (
        "What are food tours like?",
        "A food tour is a guided walk where you taste several dishes at different stops and learn about the local food culture. It is a great way to start a trip, because you discover what to order for the rest of your stay.",
    ),
    (
        "How can I avoid getting sick from food while travelling?",
        "Wash your hands or use sanitiser before eating, favour freshly cooked food, and avoid dishes that have been sitting out warm for a long time. Pack oral rehydration salts in case you do get an upset stomach.",
    ),
    (
        "Is it rude not to finish my food?",
        "It depends on the place: in some cultures an empty plate means you want more, while in others leaving food suggests you did not enjoy it. When in doubt, take moderate portions and watch what your hosts do.",
    ),
    (
        "How do I eat as a vegetarian abroad?",
        "Learn how to say 'no meat, no fish' in the local language, because stock and sauces often contain them. Indian, Middle Eastern and many Asian cuisines have plenty of naturally vegetarian dishes.",
    ),
    (
        "Should I try the local market?",
        "Yes, markets show what people really eat and are usually the best place for cheap, fresh food. Go in the morning, bring small change, and ask before taking photos of vendors.",
    ),
    (
        "How do I order food when I don't speak the language?",
        "Point at dishes other diners are eating, use picture menus, or use a translation app with a camera mode to read the menu. Learning the words for 'this one, please' and 'thank you' goes a long way.",
    ),
    # safety
    (
        "How can I avoid pickpockets?",
        "Keep your phone and wallet in front pockets or a zipped bag worn in front, especially on crowded transport and in tourist spots. Be wary of distractions such as someone asking for directions or spilling something on you.",
    ),
    (
        "What should I do if I lose my passport abroad?",
        "Report the loss to the local police and get a written report, then contact your country's embassy or consulate for an emergency travel document. Having a copy of the passport speeds this up.",
    ),
    (
        "Is it safe to travel alone?",
        "Solo travel is common and usually safe with sensible precautions: share your plans with someone at home, arrive in new places in daylight, and trust your instincts. Hostels and group tours make it easy to meet people.",
    ),
    (
        "How do I stay safe when using ATMs abroad?",
        "Use machines inside banks or shopping centres, cover the keypad when typing your PIN, and be alert to anyone standing too close. If a machine keeps your card, contact your bank immediately.",
    ),
    (
        "Do I need travel insurance?",
        "It is strongly recommended, because medical care or an emergency flight home can cost far more than the trip itself. Check that the policy covers your activities, such as skiing or diving, and any existing conditions.",
    ),
    (
        "What are common tourist scams?",
        "Common ones include taxis without meters, 'closed' attractions with a friendly stranger offering an alternative, and overly helpful people at ATMs or ticket machines. Being polite but firm, and checking information yourself, avoids most of them.",
    ),
    (
        "How can I keep my belongings safe in a hostel?",
        "Use the lockers and bring your own padlock, keep valuables with you or in the locker, and charge your phone near your bed. A small, lockable bag is useful when lockers are too small.",
    ),
    (
        "What emergency numbers should I know when travelling?",
        "Look up the local emergency number before you arrive and save it in your phone, along with your embassy's contact details. In the European Union, 112 works in every country.",
    ),
    (
        "How do I protect myself from sunburn and heat while travelling?",
        "Use high-factor sunscreen and reapply it, wear a hat, and avoid being in direct sun in the hottest hours. Drink water regularly and rest in the shade if you feel dizzy or nauseous.",
    ),
    (
        "Is public Wi-Fi safe for travellers?",
        "Public Wi-Fi can be unsafe for logging in to banking or email. Use your mobile data or a trusted VPN for sensitive tasks, and turn off automatic connection to open networks.",
    ),
    (
        "What should I do in a medical emergency abroad?",
        "Call the local emergency number, then contact your travel insurer as soon as possible, because many insurers need to approve treatment. Keep your insurance details with your passport.",
    ),
    (
        "How do I choose a safe neighbourhood for my hotel?",
        "Read recent reviews that mention the area at night, check the distance to public transport, and look at the street on a map's street view. Central areas near busy streets are usually a safe default.",
    ),
    (
        "Should I tell my bank before travelling?",
        "Many banks no longer need a travel notice, but it is worth checking in your banking app so your card is not blocked. Make sure you can receive security codes abroad, for example through the app.",
    ),
    # seasons
    (
        "What is shoulder season?",
        "It is the period just before or after a destination's peak season. You often get good weather, lower prices and fewer crowds, which makes it a favourite time for many travellers.",
    ),
    (
        "Is it a good idea to travel during the monsoon?",
        "It can be: landscapes are green, prices are low and rain often falls in short, heavy bursts. But some roads, islands and treks close, so check local conditions and keep your plans flexible.",
    ),
    (
        "When can I see the northern lights?",
        "The northern lights are visible in high northern latitudes during the dark months, roughly from September to March. You need clear skies and darkness, away from city lights, and some luck with solar activity.",
    ),
    (
        "Where is warm in December?",
        "The tropics, such as South-East Asia, the Caribbean and parts of Central America, are warm in December, as is the southern hemisphere, where it is summer. Check for rainy seasons, which differ from region to region.",
    ),
    (
        "Is travelling during school holidays a bad idea?",
        "It is more expensive and crowded, but sometimes unavoidable for families. Book early, visit popular sights at opening time, and consider less famous destinations nearby.",
    ),
    (
        "When is hurricane season in the Caribbean?",
        "The Atlantic hurricane season officially runs from June to November, with the highest risk usually from August to October. Travel insurance that covers weather disruptions is sensible in these months.",
    ),
    (
        "Is it worth visiting Europe in winter?",
        "Yes, for cities, Christmas markets, museums and skiing; prices outside the holidays are often lower. Days are short in the north, so plan indoor activities for the evenings.",
    ),
    (
        "What is the best season for a safari?",
        "In many parts of East and Southern Africa, the dry season is best, because animals gather near water and the vegetation is thinner. The exact months depend on the country and park.",
    ),
    (
        "When is it too hot to visit the desert?",
        "In many deserts, the summer months bring daytime temperatures above 40 °C, which makes hiking dangerous. Spring and autumn are usually better, and early mornings are best in any season.",
    ),
    (
        "Is spring a good time to visit mountains?",
        "Valleys can be lovely in spring, but high trails may still be under snow until early summer. Check trail and pass conditions before planning high-altitude hikes.",
    ),
    # etiquette
    (
        "How should I dress when visiting religious sites?",
        "Cover your shoulders and knees, and remove hats or shoes when you see others doing so. Carrying a light scarf makes it easy to adapt at the door.",
    ),
    (
        "Is it okay to take photos of people when travelling?",
        "Ask first, with a gesture if you do not share a language, and respect a refusal. Be especially careful with children and at religious ceremonies.",
    ),
    (
        "How do I greet people politely in another country?",
        "Learn the local greeting and a simple 'thank you', and watch whether people shake hands, bow or kiss on the cheek. A smile and an attempt in the local language are almost always appreciated.",
    ),
    (
        "What are the rules for haggling in markets?",
        "In places where bargaining is normal, start by asking the price, offer a lower figure with a smile, and meet somewhere in the middle. Only bargain if you intend to buy, and keep it friendly.",
    ),
    (
        "How should I behave on public transport abroad?",
        "Watch what locals do: in some countries people stay quiet and avoid phone calls, and priority seats are strictly respected. Let passengers off before boarding, and take off your backpack in crowded carriages.",
    ),
    (
        "Should I learn some of the local language before a trip?",
        "Yes, even a few words such as hello, please, thank you and sorry make interactions warmer. A translation app helps for the rest.",
    ),
    (
        "What should I know about dining etiquette abroad?",
        "Customs such as which hand to eat with, how to use chopsticks, and whether to share dishes vary by country. Following your hosts' lead and asking politely when unsure is always acceptable.",
    ),
    (
        "How can I be a responsible tourist?",
        "Support local businesses, respect local customs, avoid attractions that exploit animals, and leave natural places as you found them. Travelling outside peak season also eases pressure on busy destinations.",
    ),
    (
        "Is it rude to wear shoes indoors?",
        "In many homes in Asia, the Nordic countries and elsewhere, people take their shoes off at the door. Look for a pile of shoes at the entrance or simply ask your host.",
    ),
    (
        "How do I respect local customs during religious holidays?",
        "Find out whether the holiday affects opening hours, public eating or drinking, or dress. During fasting periods, for example, avoid eating in public during the day where that is expected.",
    ),
    (
        "Should I give money to children who beg?",
        "Many local charities advise against it, because it can keep children out of school. Supporting a reputable local organisation usually helps more.",
    ),
    # planning and itineraries in general
    (
        "How do I plan a trip itinerary?",
        "Start with fixed points such as flights and must-see sights, then group activities by neighbourhood to reduce travel time. Leave at least one free afternoon every few days for rest or surprises.",
    ),
    (
        "How many destinations should I visit in two weeks?",
        "Two to four bases are usually enough for two weeks, so that you spend more time exploring than travelling. Each change of base costs about half a day.",
    ),
    (
        "Is it better to book tours in advance or on arrival?",
        "Book ahead for popular tours with limited places, such as famous museums or permits. For many other activities, booking locally is cheaper and lets you adapt to the weather.",
    ),
    (
        "How do I plan a road trip?",
        "Plan driving days of no more than four or five hours, book the first and last nights, and leave the middle flexible. Download offline maps and check toll and parking rules in advance.",
    ),
    (
        "What is slow travel?",
        "Slow travel means staying longer in fewer places, often renting an apartment and living like a local for a week or more. It is usually cheaper, less tiring and gives a deeper sense of a place.",
    ),
    (
        "How do I travel on a long weekend without wasting time?",
        "Choose a destination within a short direct flight or train ride, pack only hand luggage, and pick accommodation near the centre. Plan one or two highlights per day and leave the rest to wandering.",
    ),
    (
        "How do I choose between a hotel and an apartment?",
        "Hotels are convenient for short stays and offer daily service and a reception desk. Apartments give you space and a kitchen, which suits families and longer stays.",
    ),
    (
        "What should I do in the first hour after arriving in a new country?",
        "Get local currency or check that your card works, set up mobile data, and figure out how to reach your accommodation. Save your accommodation's address in the local script to show a driver.",
    ),
    (
        "How do I plan a trip with children?",
        "Plan fewer activities per day than you would alone, include parks and playgrounds, and keep meals and naps regular. Accommodation with a kitchen and a separate sleeping area makes evenings easier.",
    ),
    (
        "How do I find cheap flights?",
        "Compare flights on search sites, be flexible with dates and nearby airports, and set price alerts. Check the final price including baggage before you book.",
    ),
    (
        "What is the best way to see a city in one day?",
        "Start early with the most popular sight, then explore one neighbourhood on foot instead of crossing the city repeatedly. A walking tour in the morning gives useful context for the rest of the day.",
    ),
    (
        "Should I get vaccinations before travelling?",
        "Talk to a doctor or travel clinic about six to eight weeks before you go, because some vaccines need time or several doses. They will advise based on your destination, activities and health.",
    ),
]


def _place_records(rng: random.Random) -> list[dict[str, str]]:
    out = []
    for place in PLACES:
        name = place["name"]
        for kind, forms in QUESTION_FORMS.items():
            question = rng.choice(forms).format(name=name)
            lead = rng.choice(ANSWER_LEADS[kind])
            answer = place[kind]
            if kind == "transport" and question.startswith("Do I need a car"):
                lead = "It depends. " if re.search(r"\bcar\b", answer, re.IGNORECASE) else "Not necessarily. "
            out.append({"prompt": question, "response": lead + answer})
        days = place["days"]
        out.append(
            {
                "prompt": rng.choice(
                    ["How many days do I need in {name}?", "How long should I stay in {name}?"]
                ).format(name=name),
                "response": f"Plan {days} days for {name} to see the main sights at a relaxed pace. {place['daytrip']}",
            }
        )
        n = rng.choice([2, 3, 4, 5])
        question = rng.choice(ITINERARY_QUESTIONS).format(n=n, name=name)
        first_day = place["highlight"]
        if n == 2:
            answer = f"Day 1: {first_day} Day 2: {place['daytrip']} Keep the evenings for local food: {_lower_first(place['food'])}"
        else:
            answer = (
                f"Day 1: {first_day} Day 2: {place['daytrip']} "
                + (
                    "Spend day 3 exploring neighbourhoods and markets at your own pace. "
                    if n == 3
                    else f"Spend the remaining {NUMBER_WORDS[n - 2]} days exploring neighbourhoods and markets at your own pace. "
                )
                + place["tip"]
            )
        out.append({"prompt": question, "response": answer})
    return out


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:]


def build() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    records = _place_records(rng) + [{"prompt": q, "response": a} for q, a in GENERAL]
    rng.shuffle(records)
    seen: set[tuple[str, str]] = set()
    unique = []
    for record in records:
        key = (record["prompt"], record["response"])
        if key not in seen:
            seen.add(key)
            unique.append(record)
    return unique


def main() -> int:
    records = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} records to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
