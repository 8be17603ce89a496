//! Experience and levels: SPEC §3.1's table, exactly.

use liar_rules::{Level, Role, Side, exp_for};

#[test]
fn the_liar_earns_53_minus_n_when_he_wins() {
    for (n, exp) in [(3, 50), (10, 43), (15, 38)] {
        assert_eq!(exp_for(Side::Liar, Role::Liar, false, n), exp, "N = {n}");
    }
}

#[test]
fn citizens_earn_15_when_the_liar_wins_whatever_they_voted() {
    for n in [3, 10, 15] {
        assert_eq!(exp_for(Side::Liar, Role::Citizen, true, n), 15);
        assert_eq!(exp_for(Side::Liar, Role::Citizen, false, n), 15);
    }
}

#[test]
fn a_citizen_who_named_the_liar_earns_25_plus_n_when_the_citizens_win() {
    for (n, exp) in [(3, 28), (10, 35), (15, 40)] {
        assert_eq!(
            exp_for(Side::Citizens, Role::Citizen, true, n),
            exp,
            "N = {n}"
        );
        assert_eq!(
            exp_for(Side::Citizens, Role::Citizen, false, n),
            20,
            "N = {n}"
        );
        assert_eq!(exp_for(Side::Citizens, Role::Liar, false, n), 10, "N = {n}");
    }
}

#[test]
fn levels_follow_the_thresholds() {
    assert_eq!(Level::from_exp(1240), Level::Gold2);
    assert_eq!(Level::from_exp(5200), Level::Liar);
    let boundaries = [
        (0, Level::Bronze1),
        (100, Level::Bronze2),
        (300, Level::Silver1),
        (500, Level::Silver2),
        (800, Level::Gold1),
        (1200, Level::Gold2),
        (1800, Level::Platinum),
        (2500, Level::Master),
        (3100, Level::Liar),
    ];
    for window in boundaries.windows(2) {
        let ((low, below), (high, level)) = (window[0], window[1]);
        assert_eq!(Level::from_exp(low), below, "{low}");
        assert_eq!(Level::from_exp(high - 1), below, "{}", high - 1);
        assert_eq!(Level::from_exp(high), level, "{high}");
    }
    assert_eq!(Level::from_exp(u64::MAX), Level::Liar);
}

#[test]
fn levels_and_sides_have_their_wire_names() {
    let names: Vec<String> = [
        Level::Bronze1,
        Level::Bronze2,
        Level::Silver1,
        Level::Silver2,
        Level::Gold1,
        Level::Gold2,
        Level::Platinum,
        Level::Master,
        Level::Liar,
    ]
    .iter()
    .map(|l| {
        let json = serde_json::to_value(l).unwrap();
        assert_eq!(json, l.as_str());
        assert_eq!(serde_json::from_value::<Level>(json.clone()).unwrap(), *l);
        json.as_str().unwrap().to_owned()
    })
    .collect();
    assert_eq!(
        names,
        [
            "BRONZE1", "BRONZE2", "SILVER1", "SILVER2", "GOLD1", "GOLD2", "PLATINUM", "MASTER",
            "LIAR"
        ]
    );
    assert_eq!(serde_json::to_value(Side::Citizens).unwrap(), "citizens");
    assert_eq!(serde_json::to_value(Side::Liar).unwrap(), "liar");
    assert_eq!(serde_json::to_value(Role::Citizen).unwrap(), "citizen");
}
