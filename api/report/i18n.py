"""The report's words in Chinese and English, district names, reasons and number formats.

Every piece of text the report prints comes from here, so the Chinese report has no English
leftovers and the English one no Chinese (apart from place and community names).
"""

from __future__ import annotations

import math

from quarterhour.geo.districts import ENGLISH_NAMES
from quarterhour.geo.errors import InputError
from quarterhour.siting.reasons import limit_words

LANGS: tuple[str, ...] = ("zh", "en")
"""Languages of the report; Chinese is the default."""


TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "15分钟就业服务圈 站点规划报告",
        "colon": "：",
        "subtitle": "社区就业服务站选址：每位居民步行 {limit}内可达一处站点",
        "generated": "生成日期",
        "plan_folder": "规划文件夹",
        "summary": "摘要",
        "communities": "社区（小区）数",
        "covered_today": "现有站点已覆盖社区",
        "existing_stations": "现有站点",
        "new_stations": "建议新建站点",
        "covered_after": "规划后覆盖社区",
        "lower_bound": "新建站点数下界",
        "uncoverable": "无法覆盖的社区",
        "gap": "与下界的差距（真实差距的上限）",
        "gap_upper": "与上界的差距（真实差距的上限）",
        "share_of_communities": "占社区 {pct}",
        "share_of_residents": "占居民 {pct}",
        "residents_covered": "覆盖居民（规划前 → 规划后）",
        "residents_note": "占居民 {today} → {after}，共 {total} 人",
        "residents_unweighted": "社区数据未给出人口：每个社区按 1 计，覆盖居民即覆盖社区数。",
        "definitions": "术语",
        "def_new_communities": "新覆盖社区：按选址顺序，该新站点步行时限内、而现有站点和排在它之前的新站点都未覆盖的社区数；各站相加等于新覆盖的社区总数。",
        "def_served": "服务社区：以该站点为最近站点（步行时限内）的社区数；每个社区只计入一个站点。",
        "def_shares": "百分比均注明分母：“占社区”按社区个数，“占居民”按人口（权重）；均只计规划范围内的社区。",
        "stations_outside_serve": "规划范围外、步行时限内的现有站点也为范围内的居民服务（如邻区的站点）。",
        "stations_inside_only": "只计规划范围内的现有站点（--stations-inside-boundary）。",
        "legend_districts": "区界",
        "legend_towns": "街镇界",
        "crs_wgs84": "WGS84（GPS 坐标）",
        "crs_gcj02": "GCJ-02（高德、腾讯地图坐标）",
        "crs_bd09": "BD-09（百度地图坐标）",
        "crs_mixed": "各站输入文件的坐标系（见括号）",
        "assumptions": "假设",
        "assumption_time": "步行速度 {speed} 公里/小时（每分钟约 {per_minute} 米），步行时限 {minutes} 分钟，即沿街步行约 {metres} 米。",
        "assumption_distance": "步行距离上限 {metres} 米（距离模式）。",
        "bound_title": "为什么不能更少",
        "bound_text": (
            "选址模型是集合覆盖问题：每个社区至少要有一处站点在步行时限内。{relaxation}，得到的值 {bound} "
            "是任何方案所需新建站点数的下界：放宽后的问题只会更容易，其最优值不会超过真正的最少站点数。"
            "站点数必须是整数，所以任何方案至少需要 {ceil} 个新站点"
        ),
        "bound_gap": "；本方案为 {n_new} 个，最多比最优方案多 {extra} 个（差距至多 {gap}：这是按下界算出的上限，不是真实差距；下界偏弱时，真实差距往往小得多）。",
        "bound_exact": "；本方案正好 {n_new} 个，已达到下界，是最优方案。",
        "relaxation_lp": "把“建或不建”的 0/1 决策放宽为 0 到 1 之间的小数（线性规划松弛）",
        "relaxation_lagrangian": "把“每个社区都要覆盖”的约束按惩罚价格移入目标函数（拉格朗日松弛，用次梯度法求解）",
        "max_cover_text": "本方案用 {budget} 个新站点，使步行 {limit}内可达站点的居民（权重）最多：共覆盖 {covered}（占居民 {share}）。任何 {budget} 个新站点的方案最多覆盖 {bound}（拉格朗日松弛给出的上界），本方案与上界的差距不超过 {gap}（这是真实差距的上限）。",
        "overview_map": "总览图",
        "map_caption": "街道网络、社区（已覆盖/未覆盖）、现有与建议站点，以及建议站点的步行 {limit}范围。图中数字为建议站点的优先顺序{labelled}。",
        "labelled_first": "（标出前 {n} 个）",
        "legend_network": "步行街道",
        "legend_boundary": "规划范围",
        "legend_extent": "路网范围",
        "legend_catchment": "新站步行 {limit}范围",
        "legend_covered": "已覆盖社区",
        "legend_uncovered": "未覆盖社区",
        "legend_existing": "现有站点",
        "legend_new": "建议新站（数字为顺序）",
        "scale_km": "{km} 公里",
        "scale_m": "{m} 米",
        "north": "北",
        "stations_title": "建议新建站点",
        "stations_intro": "按选址顺序排列：排在前面的站点新覆盖的社区最多。坐标为 {crs}，与输入文件所用坐标系相同，可直接粘贴回原表格或地图。",
        "col_rank": "顺序",
        "col_station": "站点（所在社区）及地址",
        "col_location": "经度, 纬度 {crs}",
        "col_nearest": "最近社区",
        "at_station": "站点所在",
        "metres_away": "{name}（{m} 米）",
        "col_new_communities": "新覆盖社区",
        "col_new_weight": "新覆盖居民",
        "col_served": "服务社区",
        "col_walk": "步行时间 中位/最长（分钟）",
        "no_new_stations": "无需新建站点。",
        "groups_title": "按街镇统计",
        "groups_title_district": "按区统计",
        "col_group": "街镇",
        "col_group_district": "区",
        "col_communities": "社区数",
        "col_covered_today": "现已覆盖社区（占社区）",
        "col_covered_after": "规划后覆盖社区（占社区）",
        "col_new_in_group": "新站数",
        "col_uncoverable": "无法覆盖",
        "total": "合计",
        "unknown_group": "未注明",
        "district_fallback": "{name}（未注明街镇）",
        "staffing_title": "人员配置",
        "staffing_intro": "每名就业援助员服务 {rate} 人；站点可服务人数 = 援助员人数 × {rate}。"
        "所需援助员按站点应服务的居民计算（至少 1 名），缺口为所需与现有之差。",
        "col_stations": "站点数",
        "col_aides": "援助员",
        "col_aides_needed": "所需援助员",
        "col_shortfall": "缺口",
        "col_served_weight": "已服务居民",
        "col_over_capacity": "超出容量社区",
        "staffing_map": "援助员缺口图",
        "legend_staffed": "人员充足的站点",
        "legend_short": "缺少援助员的站点（+缺口）",
        "legend_over_capacity": "超出容量的社区",
        "uncoverable_title": "无法覆盖的社区",
        "uncoverable_more": "另有 {n} 个社区未列出，见 assignments.csv 的 reason 列。",
        "uncoverable_none": "无：所有社区都能在步行时限内到达某个可选站点。",
        "uncoverable_intro": "下列社区在步行时限内没有任何可选站点，需另行安排（如流动服务或线上服务）。",
        "col_community": "社区",
        "col_reason": "原因",
        "col_access": "距道路（米）",
        "col_nearest_site": "最近站点直线距离（米）",
        "scenarios_title": "情景比较",
        "scenarios_intro": "同一数据在不同步行速度和时限下重新规划（启发式求解）。3.6 公里/小时对应老年人步速，4.5 为本项目默认值，5.1 为 Valhalla 默认步速。",
        "scenarios_skipped": "未计算情景比较。",
        "scenario_speed": "步速 {speed} 公里/小时",
        "scenario_minutes": "时限 {minutes} 分钟",
        "col_scenario": "情景",
        "col_speed": "步速（公里/小时）",
        "col_minutes": "时限（分钟）",
        "col_needed": "需新建站点",
        "col_bound": "下界",
        "col_covered": "覆盖社区（占社区）",
        "this_plan": "（本方案参数）",
        "scenario_chart_caption": "不同步速与时限下需新建的站点数（灰线为下界）。",
        "scenario_chart_caption_budget": "不同步速与时限下，同样预算的新站点数。",
        "today_only": "现状评估：本次不新建站点（预算为 0），只评估现有站点在步行时限内覆盖的社区和居民；“规划后”即现状。",
        "method_model_budget": "选址：先扣除现有站点已覆盖的社区，再用最大覆盖模型，在 {budget} 个新站点之内使步行时限内可达站点的居民（权重）最多；求解采用贪心算法和局部搜索（方法：{method}），并给出可覆盖居民的上界。",
        "chart_stations": "需新建站点数",
        "chart_by_speed": "按步速（时限 {minutes} 分钟）",
        "chart_by_minutes": "按时限（步速 {speed} 公里/小时）",
        "chart_speed_axis": "步速（公里/小时）",
        "chart_minutes_axis": "步行时限（分钟）",
        "method_title": "方法与数据来源",
        "method_network": "步行网络：{network}。步行时间沿街道计算，社区与站点就近接入道路。",
        "method_model": (
            "选址：先扣除现有站点已覆盖的社区，再用集合覆盖模型求最少新站点；求解采用贪心算法、"
            "拉格朗日启发式和局部搜索（方法：{method}），并给出下界。"
        ),
        "method_catchment": "步行范围：与等时圈接口（/isochrone）画法相同，即从每个新站点沿街道步行 {limit}可达的街道两侧 {buffer} 米以内的区域，另加站点到最近街道的一段路。",
        "method_crs": "坐标：计算使用 WGS84；表中站点坐标与输入文件相同（{crs}），不经转换，保留原有精度。",
        "sources": "数据来源",
        "source_osm": "街道：OpenStreetMap 上海中心城区（2025-08-09 快照），ODbL 许可。",
        "source_amap": "社区：高德地图小区 POI（2019 年），GCJ-02 坐标，MIT 许可（leewind/china-estate-analyze）。",
        "source_qingpu": "青浦区居委会名录：国家统计局 2023 年 6 月区划代码（china-division 2.7.0）。",
        "source_user": "输入文件：{name}",
        "inputs": "输入",
        "input_osm": "街道数据",
        "input_communities": "社区",
        "input_existing": "现有站点",
        "input_candidates": "候选站点",
        "input_boundary": "规划范围",
        "input_none": "无",
        "bundled_file": "{name}（内置数据）",
        "source_selection": "内置小区共 {read:,} 个，其中 {in_area:,} 个位于路网范围内，即本规划的社区；其余 {outside_box:,} 个在路网外包框之外，{off_streets:,} 个在框内但距任何街道超过 {snap_max_m} 米（路网数据未覆盖），不属本次规划范围。",
        "network_description": "{source}，{nodes} 个路口节点、{edges} 条路段、街道总长 {km} 公里",
        "method_heuristic": "启发式",
        "method_exact": "精确求解（HiGHS）",
        "page": "第 {page} 页",
        "upper_bound": "预算内可覆盖居民的上界",
        "bound_title_budget": "预算内能覆盖多少",
        "legend_outside": "规划范围外的社区",
        "groups_intro_town": "按社区数据中的街镇列分组。",
        "groups_intro_district": "按社区所在的区分组（社区数据中的区列，或按内置的上海区界判断）。",
        "col_outside": "范围外",
        "outside_note": "另有 {n} 个社区在规划范围外：已计入 assignments.csv（status 为 outside_boundary），未纳入规划。",
        "inactive_title": "不能提供覆盖的现有站点",
        "inactive_intro": "下列现有站点不在步行网络上或在规划范围外，不覆盖任何社区（见 stations.geojson 的 status）。",
        "station_off_network": "距最近可步行道路超过 500 米",
        "station_outside_boundary": "在规划范围外",
        "station_no_coordinates": "无坐标（仅有地址）：请用高德坐标拾取器查询地址并补填经纬度",
        "col_station_name": "站点",
        "col_status": "情况",
        "scenarios_intro_distance": "同一数据在不同步行距离上限下重新规划（启发式求解）。《城市居住区规划设计标准》（GB 50180-2018）以步行 800–1,000 米描述 15 分钟生活圈。",
        "scenario_meters": "距离 {meters} 米",
        "col_meters": "距离上限（米）",
        "chart_by_meters": "按步行距离上限",
        "chart_meters_axis": "步行距离上限（米）",
    },
    "en": {
        "title": "15-minute employment service circle: station plan",
        "colon": ": ",
        "subtitle": "Community employment service stations: every resident within a {limit} walk of one",
        "generated": "Generated",
        "plan_folder": "Plan folder",
        "summary": "Summary",
        "communities": "Communities",
        "covered_today": "Communities covered today (existing stations)",
        "existing_stations": "Existing stations",
        "new_stations": "Proposed new stations",
        "covered_after": "Communities covered after the plan",
        "lower_bound": "Lower bound on new stations",
        "uncoverable": "Uncoverable communities",
        "gap": "Gap to the lower bound (upper limit on the true gap)",
        "gap_upper": "Gap to the upper bound (upper limit on the true gap)",
        "share_of_communities": "{pct} of communities",
        "share_of_residents": "{pct} of residents",
        "residents_covered": "Residents covered (today → after the plan)",
        "residents_note": "{today} → {after} of {total} residents",
        "residents_unweighted": "The communities carry no population: each counts 1, so residents covered equal communities covered.",
        "definitions": "Definitions",
        "def_new_communities": "Newly covered communities: in pick order, the communities within the walk limit of this new station that neither the existing stations nor the new stations before it cover; they add up to all communities the plan newly covers.",
        "def_served": "Communities served: the communities whose nearest station (within the walk limit) this one is; each community counts for one station only.",
        "def_shares": 'Every percentage names what it counts: "of communities" counts communities, "of residents" people (the weight), both within the planning area.',
        "stations_outside_serve": "Existing stations outside the planning area but within the walk limit serve its residents too (a neighbouring district's station).",
        "stations_inside_only": "Only existing stations inside the planning area count (--stations-inside-boundary).",
        "legend_districts": "District boundaries",
        "legend_towns": "Town / street boundaries",
        "crs_wgs84": "WGS84 (GPS)",
        "crs_gcj02": "GCJ-02 (AMap, Tencent)",
        "crs_bd09": "BD-09 (Baidu)",
        "crs_mixed": "each station's input system (in brackets)",
        "assumptions": "Assumptions",
        "assumption_time": "Walking speed {speed} km/h (about {per_minute} m a minute), walk limit {minutes} minutes: about {metres} m along streets.",
        "assumption_distance": "Walk limit {metres} m along streets (distance mode).",
        "bound_title": "Why fewer is impossible",
        "bound_text": (
            "Siting is a set-cover model: every community needs a station within the walk limit. "
            "{relaxation} gives {bound}, a lower bound for every plan: the relaxed problem is only "
            "easier, so its optimum cannot exceed the true fewest stations. Stations come whole, so any "
            "plan needs at least {ceil} new stations"
        ),
        "bound_gap": "; this one has {n_new}, at most {extra} more than the best possible plan (gap at most {gap}: computed from the bound, this is an upper limit on the true gap, not the gap itself; where the bound is weak the true gap is often much smaller).",
        "bound_exact": "; this one has exactly {n_new}: it meets the bound and is optimal.",
        "relaxation_lp": "Relaxing each build/do-not-build decision from 0 or 1 to any fraction in between (the linear-programming relaxation)",
        "relaxation_lagrangian": "Moving the cover-every-community constraints into the objective at a penalty price (the Lagrangian relaxation, solved by subgradient optimisation)",
        "max_cover_text": "This plan places {budget} new stations to reach the most residents (weight) within {limit}: {covered} ({share} of residents). No plan with {budget} new stations covers more than {bound} (an upper bound from the Lagrangian relaxation); this one is within {gap} of that upper bound (an upper limit on the true gap).",
        "overview_map": "Overview map",
        "map_caption": "Streets, communities (covered / uncovered), existing and proposed stations, and the {limit} walking areas of the proposed stations. Numbers give the proposed stations' order{labelled}.",
        "labelled_first": " (the first {n} are numbered)",
        "legend_network": "Walkable streets",
        "legend_boundary": "Planning area",
        "legend_extent": "Network extent",
        "legend_catchment": "{limit} walk of new stations",
        "legend_covered": "Community, covered",
        "legend_uncovered": "Community, uncovered",
        "legend_existing": "Existing station",
        "legend_new": "Proposed station (number = order)",
        "scale_km": "{km} km",
        "scale_m": "{m} m",
        "north": "N",
        "stations_title": "Proposed stations",
        "stations_intro": "In pick order: earlier stations newly cover the most communities. Coordinates are {crs}, the system of the input file, ready to paste back.",
        "col_rank": "Rank",
        "col_station": "Station (at community) and address",
        "col_location": "Lon, lat {crs}",
        "col_nearest": "Nearest community",
        "at_station": "at the station",
        "metres_away": "{name} ({m} m)",
        "col_new_communities": "Newly covered communities",
        "col_new_weight": "Newly covered residents",
        "col_served": "Communities served",
        "col_walk": "Walk median / max (min)",
        "no_new_stations": "No new station is needed.",
        "groups_title": "By town / street",
        "groups_title_district": "By district",
        "col_group": "Town / street",
        "col_group_district": "District",
        "col_communities": "Communities",
        "col_covered_today": "Communities covered today (share)",
        "col_covered_after": "Communities covered after (share)",
        "col_new_in_group": "New stations",
        "col_uncoverable": "Uncoverable",
        "total": "Total",
        "unknown_group": "not given",
        "district_fallback": "{name} (town not given)",
        "staffing_title": "Staffing",
        "staffing_intro": "Each employment aide serves {rate} residents; a station serves its aides "
        "x {rate}. Aides needed count the residents a station should serve (at least 1); the "
        "shortfall is needed minus present.",
        "col_stations": "Stations",
        "col_aides": "Aides",
        "col_aides_needed": "Aides needed",
        "col_shortfall": "Shortfall",
        "col_served_weight": "Residents served",
        "col_over_capacity": "Over capacity",
        "staffing_map": "Aides shortfall",
        "legend_staffed": "station with enough aides",
        "legend_short": "station short of aides (+shortfall)",
        "legend_over_capacity": "over-capacity community",
        "uncoverable_title": "Uncoverable communities",
        "uncoverable_more": "{n} more are not listed; see the reason column of assignments.csv.",
        "uncoverable_none": "None: every community can reach some station site within the walk limit.",
        "uncoverable_intro": "No station site lies within the walk limit of these communities; they need another arrangement (mobile or online service).",
        "col_community": "Community",
        "col_reason": "Reason",
        "col_access": "To street (m)",
        "col_nearest_site": "Nearest site, straight line (m)",
        "scenarios_title": "Scenarios",
        "scenarios_intro": "The same data planned again at other walking speeds and limits (heuristic). 3.6 km/h is an elderly pace, 4.5 this project's default, 5.1 Valhalla's default.",
        "scenarios_skipped": "Scenarios were not computed.",
        "scenario_speed": "{speed} km/h",
        "scenario_minutes": "{minutes} minutes",
        "col_scenario": "Scenario",
        "col_speed": "Speed (km/h)",
        "col_minutes": "Limit (min)",
        "col_needed": "New stations needed",
        "col_bound": "Lower bound",
        "col_covered": "Communities covered (share)",
        "this_plan": " (this plan)",
        "scenario_chart_caption": "New stations needed at other speeds and limits (grey line: lower bound).",
        "scenario_chart_caption_budget": "New stations at other speeds and limits, within the same budget.",
        "today_only": 'Coverage today: this plan adds no station (a budget of 0); it shows the communities and residents the existing stations reach within the walk limit, and "after the plan" is today.',
        "method_model_budget": "Siting: communities covered by existing stations are set aside, then a maximal-cover model places at most {budget} new stations to reach the most residents (weight) within the limit, by greedy and local search (method: {method}), with an upper bound on the residents coverable.",
        "chart_stations": "New stations needed",
        "chart_by_speed": "By speed ({minutes} min limit)",
        "chart_by_minutes": "By limit ({speed} km/h)",
        "chart_speed_axis": "Walking speed (km/h)",
        "chart_minutes_axis": "Walk limit (min)",
        "method_title": "Method and data sources",
        "method_network": "Walking network: {network}. Walk times follow the streets; communities and stations join the nearest street.",
        "method_model": (
            "Siting: communities covered by existing stations are set aside, then a set-cover model "
            "finds the fewest new stations, by greedy, Lagrangian heuristic and local search (method: "
            "{method}), with a lower bound."
        ),
        "method_catchment": "Walking area: drawn as the isochrone API (/isochrone) draws it, the land within {buffer} m of the streets reached within {limit} of a new station, with the station's own way to the nearest street.",
        "method_crs": "Coordinates: computed in WGS84; station coordinates in the tables are the input file's own ({crs}), unconverted, at their precision.",
        "sources": "Data sources",
        "source_osm": "Streets: OpenStreetMap, central Shanghai (snapshot of 2025-08-09), ODbL.",
        "source_amap": "Communities: AMap residential compound POIs (2019), GCJ-02, MIT licence (leewind/china-estate-analyze).",
        "source_qingpu": "Qingpu committee list: National Bureau of Statistics division codes, June 2023 (china-division 2.7.0).",
        "source_user": "Input file: {name}",
        "inputs": "Inputs",
        "input_osm": "Streets",
        "input_communities": "Communities",
        "input_existing": "Existing stations",
        "input_candidates": "Candidate sites",
        "input_boundary": "Planning area",
        "input_none": "none",
        "bundled_file": "{name} (bundled data)",
        "source_selection": "Of the {read:,} bundled compounds, {in_area:,} lie in the network's area and are this plan's communities; {outside_box:,} lie outside its bounding box and {off_streets:,} inside it but more than {snap_max_m} m from any street (land the extract has no streets for): they are not part of this study.",
        "network_description": "{source}, {nodes} junctions, {edges} street segments, {km} km of streets",
        "method_heuristic": "heuristic",
        "method_exact": "exact (HiGHS)",
        "page": "page {page}",
        "upper_bound": "Upper bound on the residents the budget can cover",
        "bound_title_budget": "What the budget can reach",
        "legend_outside": "Community outside the area",
        "groups_intro_town": "Grouped by the communities' town/street column.",
        "groups_intro_district": "Grouped by district (the communities' district column, or the bundled Shanghai district outlines).",
        "col_outside": "Outside the area",
        "outside_note": "{n} more communities lie outside the planning area: they are counted in assignments.csv (status outside_boundary), not planned.",
        "inactive_title": "Existing stations that cover nothing",
        "inactive_intro": "These existing stations lie off the walking network or outside the planning area and cover no community (see the status in stations.geojson).",
        "station_off_network": "more than 500 m from the nearest walkable street",
        "station_outside_boundary": "outside the planning area",
        "station_no_coordinates": "no coordinates (an address only): look the address up in AMap's coordinate picker and add them",
        "col_station_name": "Station",
        "col_status": "Why",
        "scenarios_intro_distance": "The same data planned again at other walking distances (heuristic). GB 50180-2018 describes the 15-minute circle as an 800-1,000 m walk.",
        "scenario_meters": "{meters} m",
        "col_meters": "Limit (m)",
        "chart_by_meters": "By walking distance",
        "chart_meters_axis": "Walk limit (m)",
    },
}
"""Every sentence and label of the report, by language."""


def check_lang(lang: str) -> str:
    """Return ``lang`` if the report speaks it, else raise :class:`InputError`."""
    if lang not in LANGS:
        msg = f"report language {lang!r}: choose one of {', '.join(LANGS)}"
        raise InputError(msg)
    return lang


def texts(lang: str) -> dict[str, str]:
    """The report's words in ``lang``."""
    return TEXT[check_lang(lang)]


def area_name(name: object, *, lang: str) -> str:
    """A district or town name for the report: Shanghai's districts in English in ``lang="en"``."""
    text = "" if name is None or (isinstance(name, float) and math.isnan(name)) else str(name)
    return ENGLISH_NAMES.get(text, text) if lang == "en" else text


def fmt_int(value: object) -> str:
    """A whole number with thousands separators (``2,385``); an en dash when missing."""
    number = _finite(value)
    return "–" if number is None else f"{round(number):,}"


def fmt_num(value: object, digits: int = 1) -> str:
    """A number rounded to ``digits`` decimals, without trailing noise (``88.4``, ``4.5``)."""
    number = _finite(value)
    if number is None:
        return "–"
    text = f"{number:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_bound(value: object) -> str:
    """A lower bound with two decimals, or more where two would hide why it rounds up.

    ``88.43196`` -> ``88.43``; ``74.00015`` -> ``74.0002`` (not ``74.00``, which would make
    "at least 75 stations" look wrong).
    """
    number = _finite(value)
    if number is None:
        return "–"
    needed = math.ceil(number - 1e-6)
    for digits in range(2, 7):
        if math.ceil(round(number, digits) - 1e-6) == needed:
            return f"{number:,.{digits}f}"
    return f"{number:,.6f}"


def fmt_pct(value: object, digits: int = 1) -> str:
    """A share (0-1) as a percentage (``98.7%``); exactly 100 % only when complete."""
    number = _finite(value)
    if number is None:
        return "–"
    percent = 100.0 * number
    if 0 < percent < 100:
        percent = min(max(percent, 10.0**-digits), 100.0 - 10.0**-digits)
    return f"{fmt_num(percent, digits)}%"


def fmt_minutes(value: object) -> str:
    """Walk minutes to one decimal, always shown (``14.0``), so columns line up."""
    number = _finite(value)
    return "–" if number is None else f"{number:.1f}"


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]  # any value: its errors are caught
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def limit_text(*, minutes: float | None, meters: float | None, lang: str) -> str:
    """The walk limit as words: ``15 分钟`` / ``15 min`` or ``1,000 米`` / ``1,000 m``."""
    check_lang(lang)
    if meters is not None:
        return limit_words(float(meters), "distance", lang=lang)
    if minutes is None:
        msg = "a walk limit needs minutes or meters"
        raise ValueError(msg)
    return limit_words(float(minutes), "time", lang=lang)
