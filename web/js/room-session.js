// The client's copy of one room: kept up to date from /topic/rooms/{id} (with since-seq
// resume across reconnects) and the private card. Views listen for 'change'.
//
// It only ever holds what the server sent this player: the card is his own, the liar is known
// only once `liar.revealed`/`game.ended` names him, ballots only once `game.ended` lists them.

const CHAT_KEEP = 200;
/** Where this tab remembers its own ballot, so a reload shows it again (the server never says). */
const VOTE_KEY = 'liar.vote';

export class RoomSession extends EventTarget {
  /**
   * @param {import('./stomp.js').StompClient} stomp
   * @param {number} roomId
   * @param {number} me  the player's userId
   */
  constructor(stomp, roomId, me) {
    super();
    this.stomp = stomp;
    this.roomId = Number(roomId);
    this.me = Number(me);
    this.seq = null;
    this.room = null; // RoomView without the game
    this.game = null; // public game state (snapshot shape), null in the lobby
    this.card = null; // my card for the running game
    this.result = null; // game.ended / game.aborted of the last game
    this.chat = [];
    this.log = []; // room notices (joined, left, …) interleaved with chat
    this.myVote = null;
    this.ended = null; // why this session is over: {code|reason}
    this.refused = null;
    this.unsubscribe = stomp.subscribe(`/topic/rooms/${this.roomId}`, (ev) => this.apply(ev), {
      headers: () => (this.seq !== null ? { 'since-seq': String(this.seq) } : {}),
      onRefused: (e) => {
        this.refused = e;
        this.emit('refused');
      },
    });
  }

  close() {
    this.unsubscribe();
    this.closed = true;
  }

  emit(kind, detail = {}) {
    this.dispatchEvent(new CustomEvent('change', { detail: { kind, ...detail } }));
  }

  member(id) {
    return this.room?.members.find((m) => m.userId === Number(id));
  }

  name(id) {
    return this.member(id)?.username ?? this.names?.get(Number(id)) ?? `#${id}`;
  }

  get isHost() {
    return this.room?.hostId === this.me;
  }

  /** Remembers names of everyone seen, so a player who left still has a name in the result. */
  remember() {
    this.names ??= new Map();
    for (const m of this.room?.members ?? []) this.names.set(m.userId, m.username);
  }

  setCard(card) {
    this.card = card;
    this.emit('card');
  }

  note(key, params) {
    this.log.push({ kind: 'note', key, params, at: Date.now() });
    if (this.log.length > CHAT_KEEP) this.log.shift();
  }

  apply(ev) {
    if (!ev || typeof ev !== 'object') return;
    if (ev.type === 'room.snapshot') {
      this.seq = ev.seq;
      this.loadRoom(ev.room);
      this.emit('snapshot');
      return;
    }
    if (typeof ev.seq === 'number') {
      if (this.seq !== null && ev.seq <= this.seq) return; // already applied (replay overlap)
      this.seq = ev.seq;
    }
    const room = this.room;
    if (!room) return;
    const g = this.game;
    switch (ev.type) {
      case 'member.joined':
        if (!this.member(ev.userId)) room.members.push({ userId: ev.userId, username: ev.username, ready: false, connected: true });
        this.remember();
        this.note('event.joined', { name: ev.username });
        break;
      case 'member.left': {
        const name = this.name(ev.userId);
        room.members = room.members.filter((m) => m.userId !== ev.userId);
        if (ev.userId === this.me) this.end({ reason: 'left' });
        else this.note(ev.reason === 'moved' || ev.reason === 'timeout' ? `event.left.${ev.reason}` : 'event.left', { name });
        break;
      }
      case 'member.ready': {
        const m = this.member(ev.userId);
        if (m) m.ready = ev.ready;
        break;
      }
      case 'host.changed':
        room.hostId = ev.hostId;
        this.note('event.hostChanged', { name: this.name(ev.hostId) });
        break;
      case 'settings.changed': {
        const before = room.settings;
        room.settings = ev.settings;
        this.changedMode = before?.mode && ev.settings?.mode && before.mode !== ev.settings.mode ? ev.settings.mode : null;
        if (this.changedMode) this.note('event.modeChanged', { mode: this.changedMode });
        if (before?.topicId && ev.settings?.topicId && before.topicId !== ev.settings.topicId) this.note('event.topicChanged', { topicId: ev.settings.topicId });
        break;
      }
      case 'member.kicked': {
        const name = this.name(ev.userId);
        room.members = room.members.filter((m) => m.userId !== ev.userId);
        if (ev.userId === this.me) this.end({ code: 'KICKED' });
        else this.note('event.kicked', { name });
        break;
      }
      case 'room.closed':
        this.end({ closed: ev.reason });
        break;
      case 'chat':
        this.addChat(ev);
        break;
      case 'player.disconnected':
      case 'player.reconnected': {
        const online = ev.type === 'player.reconnected';
        const m = this.member(ev.userId);
        if (m) m.connected = online;
        const p = g?.players?.find((x) => x.userId === ev.userId);
        if (p) p.connected = online;
        this.note(online ? 'event.reconnected' : 'event.disconnected', { name: this.name(ev.userId) });
        break;
      }
      case 'player.left': {
        const p = g?.players?.find((x) => x.userId === ev.userId);
        if (p) p.out = true;
        break;
      }
      case 'game.started':
        room.status = 'playing';
        this.result = null;
        this.myVote = null;
        this.remember();
        this.game = {
          phase: 'deal',
          deadline: null,
          topicId: ev.topicId,
          topic: ev.topic,
          settings: ev.settings,
          order: ev.order,
          round: null,
          speaker: null,
          hints: [],
          skips: [],
          vote: null,
          tally: [],
          accused: null,
          revealed: null,
          players: ev.order.map((id) => ({ userId: id, connected: this.member(id)?.connected ?? true, out: false })),
        };
        this.note('event.gameStarted', {});
        break;
      case 'phase.changed':
        if (!g) break;
        g.phase = ev.phase;
        g.deadline = ev.deadline;
        if (ev.phase !== 'hints') g.speaker = null;
        if (ev.phase === 'vote') {
          this.myVote = null;
          g.vote = { cast: 0, total: g.players.filter((p) => !p.out).length, candidates: g.vote?.candidates ?? [], revote: Boolean(g.voteResult?.revote) };
        }
        break;
      case 'turn.started':
        if (!g) break;
        g.speaker = ev.speaker;
        g.round = ev.round;
        g.deadline = ev.deadline;
        break;
      case 'hint':
        g?.hints.push({ userId: ev.userId, text: ev.text, round: ev.round });
        break;
      case 'turn.skipped':
        g?.skips.push({ userId: ev.userId, round: ev.round, reason: ev.reason, afterHints: g.hints.length });
        break;
      case 'vote.progress':
        if (g) g.vote = { ...(g.vote ?? {}), cast: ev.cast, total: ev.total };
        break;
      case 'vote.result':
        if (!g) break;
        g.tally = ev.tally;
        g.accused = ev.accused ?? null;
        g.voteResult = { tie: ev.tie, tied: ev.tied, revote: ev.revote };
        if (ev.revote) g.vote = { cast: 0, total: g.vote?.total ?? 0, candidates: ev.tied, revote: true };
        break;
      case 'defense':
        if (g) g.defense = { userId: ev.userId, text: ev.text };
        break;
      case 'liar.revealed':
        if (g) g.revealed = { accusedId: ev.accusedId, accusedIsLiar: ev.accusedIsLiar, liarId: ev.liarId ?? null };
        break;
      case 'guess.result':
        if (g) g.guess = { guess: ev.guess, correct: ev.correct };
        break;
      case 'game.ended':
        if (g) g.phase = 'result';
        this.result = ev;
        this.reopensAt = ev.reopensAt ?? null;
        break;
      case 'game.aborted':
        if (g) g.phase = 'result';
        this.result = { aborted: true, reason: ev.reason };
        break;
      case 'room.waiting':
        this.loadRoom(ev.room);
        break;
      default:
        break;
    }
    this.emit(ev.type, { event: ev });
  }

  /** One chat message into the log, once (a snapshot's history may overlap what arrived). */
  addChat(ev) {
    this.chatSeqs ??= new Set();
    if (typeof ev.seq === 'number') {
      if (this.chatSeqs.has(ev.seq)) return;
      this.chatSeqs.add(ev.seq);
    }
    const item = { kind: 'chat', seq: ev.seq, userId: ev.userId, username: ev.username, text: ev.text, at: ev.at };
    // History from a snapshot goes before anything logged since, in seq order.
    const after = this.log.findIndex((x) => x.kind === 'chat' && typeof x.seq === 'number' && x.seq > ev.seq);
    if (after >= 0) this.log.splice(after, 0, item);
    else this.log.push(item);
    if (this.log.length > CHAT_KEEP) this.log.shift();
  }

  loadRoom(view) {
    const { game, chat, ...room } = view;
    this.room = room;
    this.remember();
    for (const ev of chat ?? []) this.addChat(ev);
    if (game) {
      const fresh = !this.game;
      const prev = this.game ?? {};
      const tally = game.tally ?? [];
      this.game = {
        ...game,
        hints: game.hints ?? [],
        // The server lists skipped turns (afterHints places each among the hints); an older
        // server does not, and then the ones seen live are kept.
        skips: game.skips ?? prev.skips ?? [],
        defense: game.defense ?? prev.defense ?? null,
        guess: prev.guess ?? (game.end?.guess !== undefined ? { guess: game.end.guess } : undefined),
        voteResult: prev.voteResult ?? (game.accused || tally.length ? { tie: !game.accused, tied: [], revote: false } : undefined),
        players: game.players ?? game.order.map((id) => ({ userId: id, connected: true, out: false })),
      };
      if (game.vote) this.game.vote = game.vote;
      if (fresh) this.myVote = this.storedVote();
      if (game.end && !this.result) this.result = game.end.outcome === 'aborted' ? { aborted: true, reason: game.end.reason } : game.end;
      // When the room reopens after the result (wherever the snapshot carries it).
      this.reopensAt = game.reopensAt ?? room.reopensAt ?? this.reopensAt ?? null;
    } else {
      // Back in the lobby: the card and ballot belonged to the game that ended.
      this.game = null;
      this.card = null;
      this.myVote = null;
      this.reopensAt = null;
    }
  }

  /** The key of the running vote round: its deadline is unique to it. */
  voteKey() {
    const g = this.game;
    return g?.phase === 'vote' && g.deadline ? `${this.roomId}:${this.me}:${g.deadline}` : null;
  }

  /** Remembers this player's ballot for the running vote round (survives a reload of the tab). */
  rememberVote(targetId) {
    this.myVote = targetId;
    const key = this.voteKey();
    try {
      if (key) sessionStorage.setItem(VOTE_KEY, JSON.stringify({ key, targetId }));
    } catch {
      /* storage unavailable: the ballot still counts, only a reload forgets it */
    }
  }

  storedVote() {
    try {
      const v = JSON.parse(sessionStorage.getItem(VOTE_KEY) || 'null');
      return v && v.key === this.voteKey() ? v.targetId : null;
    } catch {
      return null;
    }
  }

  end(why) {
    this.ended = why;
    this.close();
  }

  /** Sends a room command: `/app/rooms/{id}/{command}`. */
  send(command, body = {}) {
    return this.stomp.send(`/app/rooms/${this.roomId}/${command}`, body);
  }
}
