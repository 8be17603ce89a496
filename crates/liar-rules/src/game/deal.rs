//! Dealing: the liar, the speaking order, the word(s) and the private cards (SPEC §3 step 1).

use std::collections::HashSet;

use rand::{
    Rng, RngExt,
    seq::{IndexedRandom, SliceRandom},
};

use super::{Game, MIN_PLAYERS, Output, Seat, Stage};
use crate::{Event, Millis, Mode, Role, Topic, UserId, settings::GameSettings, topics::Word};

/// Why a game could not be dealt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// Fewer than [`MIN_PLAYERS`] players.
    #[error("a game needs at least {MIN_PLAYERS} players, got {0}")]
    TooFewPlayers(usize),
    /// A player was listed twice.
    #[error("player {0} is listed twice")]
    DuplicatePlayer(UserId),
    /// The topic cannot give a citizen word and a different liar word.
    #[error("topic {0:?} has fewer than two words")]
    TopicTooSmall(String),
}

impl Game {
    /// Deals a new game: a uniformly drawn liar and word, a shuffled speaking order, the private
    /// cards, and the `deal` phase with its timer.
    ///
    /// Outputs, in order: `game.started`, one private `game.card` per player (seat order),
    /// `phase.changed {deal}`, the deal timer.
    pub fn try_start<R: Rng + ?Sized>(
        players: Vec<UserId>,
        settings: GameSettings,
        topic: &Topic,
        now: Millis,
        rng: &mut R,
    ) -> Result<(Game, Vec<Output>), StartError> {
        validate(&players, topic)?;
        let liar = *players.choose(rng).expect("validated: not empty");
        let mut order = players.clone();
        order.shuffle(rng);
        let word_index = rng.random_range(0..topic.words.len());
        let word = topic.words[word_index].clone();
        let liar_word =
            (settings.mode == Mode::Fool).then(|| fool_word(topic, word_index, rng).clone());
        let mut game = Game::dealt(players, settings, topic, liar, order, word, liar_word);
        let mut out = game.announce();
        let deal_secs = game.settings.deal_secs;
        game.enter_phase(Stage::Deal, deal_secs, now, &mut out);
        Ok((game, out))
    }

    /// A freshly dealt game, before anything was announced.
    fn dealt(
        players: Vec<UserId>,
        settings: GameSettings,
        topic: &Topic,
        liar: UserId,
        order: Vec<UserId>,
        word: Word,
        liar_word: Option<Word>,
    ) -> Game {
        let seats = players
            .iter()
            .map(|&id| Seat {
                id,
                connected: true,
                out: false,
                grace: None,
                resumed: false,
            })
            .collect();
        Game {
            topic_id: topic.id.clone(),
            topic_name: topic.name.get(settings.language).to_owned(),
            settings,
            word,
            liar_word,
            players,
            seats,
            order,
            liar,
            stage: Stage::Deal,
            seq: 0,
            phase_timer: None,
            turn_deadline: None,
            hints: Vec::new(),
            skips: Vec::new(),
            ballots: Vec::new(),
            tally: Vec::new(),
            accused: None,
            revealed: None,
            guess: None,
            defense: None,
            end: None,
        }
    }

    /// `game.started` for everybody, then each player's card for him alone.
    fn announce(&self) -> Vec<Output> {
        let mut out = vec![Output::Broadcast(Event::GameStarted {
            order: self.order.clone(),
            settings: self.settings.clone(),
            topic_id: self.topic_id.clone(),
            topic: self.topic_name.clone(),
        })];
        for &player in &self.players {
            let event = self.card_for(player).expect("a player has a card");
            out.push(Output::Private { to: player, event });
        }
        out
    }

    /// A player's own card (for the deal and for reconnects); `None` for a non-player.
    pub fn card_for(&self, player: UserId) -> Option<Event> {
        self.seat_index(player)?;
        let language = self.settings.language;
        let (role, word) = match (player == self.liar, self.settings.mode) {
            (false, _) => (Role::Citizen, Some(&self.word)),
            (true, Mode::Classic) => (Role::Liar, None),
            (true, Mode::Fool) => (Role::Citizen, self.liar_word.as_ref()),
        };
        Some(Event::GameCard {
            role,
            topic: self.topic_name.clone(),
            word: word.map(|w| w.text(language).to_owned()),
        })
    }
}

fn validate(players: &[UserId], topic: &Topic) -> Result<(), StartError> {
    if players.len() < MIN_PLAYERS {
        return Err(StartError::TooFewPlayers(players.len()));
    }
    let mut seen = HashSet::new();
    if let Some(&twice) = players.iter().find(|&&p| !seen.insert(p)) {
        return Err(StartError::DuplicatePlayer(twice));
    }
    if topic.words.len() < 2 {
        return Err(StartError::TopicTooSmall(topic.id.clone()));
    }
    Ok(())
}

/// The fool-mode liar's word: a pair partner of word `index` when it has one, else any other
/// word of the topic.
fn fool_word<'a, R: Rng + ?Sized>(topic: &'a Topic, index: usize, rng: &mut R) -> &'a Word {
    let word = &topic.words[index];
    let partners: Vec<&Word> = topic
        .partners(&word.id)
        .filter(|p| p.id != word.id)
        .collect();
    if let Some(partner) = partners.choose(rng) {
        return partner;
    }
    let other = rng.random_range(0..topic.words.len() - 1);
    &topic.words[if other >= index { other + 1 } else { other }]
}
